import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { createManualClock } from '../packages/sessionkeeper/src/core/clock.js';
import { createSessionEngine } from '../packages/sessionkeeper/src/core/engine.js';
import { createSqliteStore } from '../packages/sessionkeeper/src/sqlite/index.js';
import { type BenchRow, opsPerSecond } from './report.js';

const LIVE = 100_000;
const silent = pino({ level: 'silent' });

/** Issue 2's figures: validate and create ops/s beside a raw primary-key SELECT, and sweep stalls. */
export async function benchSqlite(): Promise<BenchRow[]> {
  const dir = await mkdtemp(join(tmpdir(), 'sk-bench-'));
  try {
    return [
      ...(await throughput(join(dir, 'live.db'))),
      ...(await sweepStalls(join(dir, 'sweep.db'))),
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function throughput(file: string): Promise<BenchRow[]> {
  const engine = await createSessionEngine({
    store: createSqliteStore({ path: file }),
    background: false,
    logger: silent,
  });
  const tokens: string[] = [];
  const ids: string[] = [];
  const data = { plan: 'pro', locale: 'en-GB', cart: [1, 2, 3] };
  const createStart = performance.now();
  for (let i = 0; i < LIVE; i++) {
    const { token, session } = await engine.create({ subject: `user-${i % 20_000}`, data });
    tokens.push(token);
    ids.push(session.id);
  }
  const createRate = LIVE / ((performance.now() - createStart) / 1000);
  await engine.deliverEvents();

  const pick = (i: number) => (i * 7919) % LIVE;
  const validateRate = await opsPerSecond(3, (i) => engine.validate(tokens[pick(i)] as string));
  const raw = new Database(file, { readonly: true });
  const select = raw.prepare('SELECT * FROM sessions WHERE id = ?');
  const selectRate = await opsPerSecond(3, (i) => select.get(ids[pick(i)]));
  raw.close();
  await engine.close();

  return [
    {
      name: `create (SQLite, ${LIVE.toLocaleString('en-US')} sessions)`,
      value: createRate,
      unit: 'ops/s',
    },
    { name: 'validate (SQLite, 100k live sessions)', value: validateRate, unit: 'ops/s' },
    { name: 'raw better-sqlite3 primary-key SELECT (ceiling)', value: selectRate, unit: 'ops/s' },
    {
      name: 'validate / raw SELECT',
      value: validateRate / selectRate,
      unit: 'x',
      target: { text: '>= 0.6 x', met: validateRate / selectRate >= 0.6 },
    },
  ];
}

async function sweepStalls(file: string): Promise<BenchRow[]> {
  const clock = createManualClock(Date.now());
  const engine = await createSessionEngine({
    store: createSqliteStore({ path: file }),
    background: false,
    logger: silent,
    clock,
  });
  for (let i = 0; i < LIVE; i++)
    await engine.create({ subject: `gone-${i % 20_000}`, idleTimeoutSeconds: 60 });
  const live: string[] = [];
  for (let i = 0; i < 1000; i++)
    live.push((await engine.create({ subject: `here-${i}`, idleTimeoutSeconds: 7200 })).token);
  await engine.deliverEvents();
  clock.advance(120);

  const waits: number[] = [];
  let sweeping = true;
  const sweep = engine.sweep().finally(() => {
    sweeping = false;
  });
  const sweepStart = performance.now();
  for (let i = 0; sweeping; i++) {
    const start = performance.now();
    // Each validation arrives as its own event-loop turn, as a request would, so the wait counts
    // the time spent behind a sweep transaction (and the sweep gets its turns between batches).
    await yieldToEventLoop();
    await engine.validate(live[i % live.length] as string);
    waits.push(performance.now() - start);
  }
  const { expired } = await sweep;
  const sweepSeconds = (performance.now() - sweepStart) / 1000;
  await engine.close();
  waits.sort((a, b) => a - b);
  const max = waits.at(-1) ?? 0;
  return [
    {
      name: `sweep of ${expired.toLocaleString('en-US')} expired sessions`,
      value: sweepSeconds,
      unit: 's',
    },
    { name: `validations during the sweep`, value: waits.length, unit: '' },
    {
      name: 'p99 validation wait during the sweep',
      value: waits[Math.floor(waits.length * 0.99)] ?? 0,
      unit: 'ms',
    },
    {
      name: 'max validation wait during the sweep',
      value: max,
      unit: 'ms',
      target: { text: '<= 20 ms', met: max <= 20 },
    },
  ];
}
