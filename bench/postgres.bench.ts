import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { pino } from 'pino';
import { createPostgresStore } from '../packages/postgres/src/index.js';
import { createSessionEngine } from '../packages/sessionkeeper/src/core/engine.js';
import {
  formatSessionToken,
  generateSecret,
  generateSessionId,
  hashSecret,
} from '../packages/sessionkeeper/src/core/token.js';
import { type BenchRow, opsPerSecond } from './report.js';

const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const LIVE = 100_000;
const SECONDS = 3;
/** Requests in flight at once for the concurrent figures (a server under load). */
const IN_FLIGHT = 32;
const silent = pino({ level: 'silent' });

/**
 * Issue 18's figures on the PostgreSQL at POSTGRES_URL: validate and create ops/s with 100k live
 * sessions beside a raw `SELECT … WHERE id = $1` through the same pool in the same run, and the
 * table's bytes per session. Everything lives in a schema of its own, dropped afterwards.
 */
export async function benchPostgres(): Promise<BenchRow[]> {
  const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: IN_FLIGHT });
  pool.on('error', () => {});
  try {
    await pool.query('SELECT 1');
  } catch {
    await pool.end();
    console.log(`\nPostgreSQL benchmarks skipped: nothing answers at ${POSTGRES_URL}.`);
    return [];
  }
  const schema = `sk_bench_${randomBytes(4).toString('hex')}`;
  try {
    return await measure(pool, schema);
  } finally {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await pool.end();
  }
}

async function measure(pool: pg.Pool, schema: string): Promise<BenchRow[]> {
  const store = await createPostgresStore({ pool, schema, listen: false });
  const engine = await createSessionEngine({ store, background: false, logger: silent });
  const data = { plan: 'pro', locale: 'en-GB', cart: [1, 2, 3] };
  // One session made by the engine is the template; the rest are copied from it in bulk with
  // their own id, subject and secret, so setting up 100k takes seconds, not minutes.
  const template = await engine.create({ subject: 'template', data });
  const tokens: string[] = [];
  const ids: string[] = [];
  const loadStart = performance.now();
  for (let done = 1; done < LIVE; ) {
    const batch = Math.min(10_000, LIVE - done);
    const batchIds: string[] = [];
    const subjects: string[] = [];
    const hashes: string[] = [];
    for (let k = 0; k < batch; k++, done++) {
      const id = generateSessionId();
      const secret = generateSecret();
      batchIds.push(id);
      subjects.push(`user-${done % 20_000}`);
      hashes.push(hashSecret(secret));
      tokens.push(formatSessionToken(id, secret));
      ids.push(id);
    }
    await pool.query(
      `INSERT INTO "${schema}".sessions (id, subject, secret_hash, data, created_at, last_active_at,
         idle_timeout_seconds, absolute_expires_at, leases, expires_at, status)
       SELECT n.id, n.subject, n.hash, t.data, t.created_at, t.last_active_at,
         t.idle_timeout_seconds, t.absolute_expires_at, t.leases, t.expires_at, t.status
       FROM unnest($1::text[], $2::text[], $3::text[]) AS n(id, subject, hash),
         "${schema}".sessions t WHERE t.id = $4`,
      [batchIds, subjects, hashes, template.session.id],
    );
  }
  const loadSeconds = (performance.now() - loadStart) / 1000;
  await pool.query(`VACUUM ANALYZE "${schema}".sessions`);

  const pick = (i: number) => (i * 7919) % (LIVE - 1);
  const select = `SELECT * FROM "${schema}".sessions WHERE id = $1`;
  const raw = (i: number) =>
    pool.query({ name: 'bench-raw', text: select, values: [ids[pick(i)]] });
  const validate = (i: number) => engine.validate(tokens[pick(i)] as string);
  let made = 0;
  const create = () => engine.create({ subject: `new-${made++ % 20_000}`, data });
  // A durable write's floor: one committed single-row INSERT through the same pool.
  await pool.query(`CREATE TABLE "${schema}".raw_insert (id text PRIMARY KEY, data text NOT NULL)`);
  const insert = (i: number) =>
    pool.query({
      name: 'bench-insert',
      text: `INSERT INTO "${schema}".raw_insert (id, data) VALUES ($1, $2)`,
      values: [`${i}-${Math.random()}`, JSON.stringify(data)],
    });

  const validateRate = await opsPerSecond(SECONDS, validate);
  const selectRate = await opsPerSecond(SECONDS, raw);
  const createRate = await opsPerSecond(SECONDS, create);
  const insertRate = await opsPerSecond(SECONDS, insert);
  const validateParallel = await concurrent(validate);
  const selectParallel = await concurrent(raw);
  const createParallel = await concurrent(create);
  const insertParallel = await concurrent(insert);

  const size = await pool.query<{ bytes: string; rows: string }>(
    `SELECT pg_total_relation_size('"${schema}".sessions') AS bytes,
       (SELECT count(*) FROM "${schema}".sessions) AS rows`,
  );
  const bytes = Number(size.rows[0]?.bytes ?? 0);
  const rows = Number(size.rows[0]?.rows ?? 1);
  await engine.close();

  // The target is against the raw SELECT; the raw INSERT (a committed write, as every
  // create is) is shown beside it without one, for what a create costs on this server.
  const ratio = (a: number, b: number, text: string, target = true): BenchRow => ({
    name: text,
    value: a / b,
    unit: 'x',
    ...(target ? { target: { text: '>= 0.5 x', met: a / b >= 0.5 } } : {}),
  });
  return [
    {
      name: `bulk load of ${LIVE.toLocaleString('en-US')} sessions`,
      value: loadSeconds,
      unit: 's',
    },
    {
      name: 'validate (PostgreSQL, 100k live sessions, one at a time)',
      value: validateRate,
      unit: 'ops/s',
    },
    {
      name: 'raw SELECT … WHERE id = $1, same pool, one at a time',
      value: selectRate,
      unit: 'ops/s',
    },
    ratio(validateRate, selectRate, 'validate / raw SELECT (one at a time)'),
    { name: 'create (one at a time)', value: createRate, unit: 'ops/s' },
    ratio(createRate, selectRate, 'create / raw SELECT (one at a time)'),
    { name: 'raw single-row INSERT, same pool, one at a time', value: insertRate, unit: 'ops/s' },
    ratio(createRate, insertRate, 'create / raw INSERT (one at a time)', false),
    { name: `validate, ${IN_FLIGHT} in flight`, value: validateParallel, unit: 'ops/s' },
    { name: `raw SELECT, ${IN_FLIGHT} in flight`, value: selectParallel, unit: 'ops/s' },
    ratio(validateParallel, selectParallel, `validate / raw SELECT (${IN_FLIGHT} in flight)`),
    { name: `create, ${IN_FLIGHT} in flight`, value: createParallel, unit: 'ops/s' },
    ratio(createParallel, selectParallel, `create / raw SELECT (${IN_FLIGHT} in flight)`),
    { name: `raw single-row INSERT, ${IN_FLIGHT} in flight`, value: insertParallel, unit: 'ops/s' },
    ratio(createParallel, insertParallel, `create / raw INSERT (${IN_FLIGHT} in flight)`, false),
    { name: 'rows in sessions', value: rows, unit: '' },
    {
      name: 'bytes per session (pg_total_relation_size / count)',
      value: bytes / rows,
      unit: 'B',
    },
  ];
}

/** Ops/s with `IN_FLIGHT` workers each running `op` back to back for `SECONDS`. */
async function concurrent(op: (i: number) => Promise<unknown>): Promise<number> {
  const end = performance.now() + SECONDS * 1000;
  let i = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (performance.now() < end) await op(i++);
    }),
  );
  return i / ((performance.now() - start) / 1000);
}
