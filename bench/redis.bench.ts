import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { createRedisStore } from '../packages/redis/src/index.js';
import {
  createSessionEngine,
  type SessionEngine,
} from '../packages/sessionkeeper/src/core/engine.js';
import type { BenchRow } from './report.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const POOL = 10_000;
const IN_FLIGHT = 200;
const VALIDATE_SECONDS = 5;
const MEMORY_SESSIONS = 100_000;
const silent = pino({ level: 'silent' });

/**
 * Issue 3's figures on the Redis at REDIS_URL: validate ops/s beside the server's own GET rate
 * (redis-benchmark), and memory per session. The Redis may be shared, so everything lives under a
 * key prefix of its own, deleted afterwards (never FLUSHDB).
 */
export async function benchRedis(): Promise<BenchRow[]> {
  const admin = new Redis(REDIS_URL, {
    lazyConnect: true,
    connectTimeout: 1000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  admin.on('error', () => {});
  try {
    await admin.connect();
    await admin.ping();
  } catch {
    admin.disconnect();
    console.log(`\nRedis benchmarks skipped: no Redis answers at ${REDIS_URL} (set REDIS_URL).`);
    return [];
  }
  const prefix = await freePrefix(admin);
  try {
    return [...(await throughput(prefix)), ...(await memory(admin, prefix))];
  } finally {
    await deletePrefix(admin, prefix);
    admin.disconnect();
  }
}

/**
 * A 3-character prefix, as long as the default `sk:`, so the key names (counted in memory per
 * session) weigh what they do in production. Taken only if no key uses it yet.
 */
async function freePrefix(admin: Redis): Promise<string> {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  for (let attempt = 0; attempt < 20; attempt++) {
    const prefix = `b${alphabet.charAt(randomInt(alphabet.length))}:`;
    if ((await keysUnder(admin, prefix, 1)).length === 0) return prefix;
  }
  throw new Error('No free 3-character key prefix for the Redis benchmark');
}

async function keysUnder(admin: Redis, prefix: string, enough = Infinity): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, page] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...page);
  } while (cursor !== '0' && keys.length < enough);
  return keys;
}

export async function deletePrefix(admin: Redis, prefix: string): Promise<void> {
  const keys = await keysUnder(admin, prefix);
  for (let k = 0; k < keys.length; k += 1000) await admin.unlink(...keys.slice(k, k + 1000));
}

async function openEngine(prefix: string): Promise<SessionEngine> {
  // The store's own client has enableAutoPipelining on (connection.ts): commands issued in the
  // same event-loop turn by concurrent validations go out as one write, so throughput is bound
  // by Redis and by the engine's CPU rather than by one round trip per validation.
  return createSessionEngine({
    store: await createRedisStore({ url: REDIS_URL, keyPrefix: prefix }),
    background: false,
    logger: silent,
  });
}

/** Runs `op(i)` for i in 0..count-1 with `inFlight` calls at a time. */
async function concurrently(count: number, inFlight: number, op: (i: number) => Promise<unknown>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < count) await op(next++);
    }),
  );
}

async function throughput(prefix: string): Promise<BenchRow[]> {
  const engine = await openEngine(prefix);
  const tokens: string[] = [];
  try {
    await concurrently(POOL, IN_FLIGHT, async (i) => {
      tokens[i] = (await engine.create({ subject: `user-${i % 2000}`, data: { n: i } })).token;
    });
    await engine.deliverEvents();
    const getBefore = await redisBenchmarkGet();

    let done = 0;
    let failed = 0;
    const end = performance.now() + VALIDATE_SECONDS * 1000;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async (_, loop) => {
        for (let i = loop; performance.now() < end; i += IN_FLIGHT) {
          const result = await engine.validate(tokens[(i * 7919) % POOL] as string);
          if (result.ok) done++;
          else failed++;
        }
      }),
    );
    const validateRate = done / ((performance.now() - start) / 1000);
    if (failed > 0) throw new Error(`${failed} validations failed during the Redis benchmark`);

    // GET runs before and after: the higher rate is the ceiling, so a noisy neighbour slowing
    // one run cannot flatter the ratio.
    const gets = [getBefore, await redisBenchmarkGet()].filter((rate) => rate !== null);
    const getRate = gets.length > 0 ? Math.max(...gets) : null;
    const rows: BenchRow[] = [
      {
        name: `validate (Redis, ${IN_FLIGHT} in flight, auto-pipelined)`,
        value: validateRate,
        unit: 'ops/s',
      },
    ];
    if (getRate === null) {
      console.log('\nredis-benchmark did not run: no GET ceiling, no ratio.');
      return rows;
    }
    return [
      ...rows,
      { name: 'redis-benchmark GET, same server (ceiling)', value: getRate, unit: 'ops/s' },
      {
        name: 'validate / GET',
        value: validateRate / getRate,
        unit: 'x',
        target: { text: '>= 0.5 x', met: validateRate / getRate >= 0.5 },
      },
    ];
  } finally {
    await engine.close();
  }
}

/** `redis-benchmark -t get` on REDIS_URL's server; null when the binary is missing or fails. */
async function redisBenchmarkGet(): Promise<number | null> {
  const url = new URL(REDIS_URL);
  const args = ['-h', url.hostname || '127.0.0.1', '-p', url.port || '6379'];
  if (url.password) args.push('-a', decodeURIComponent(url.password), '--no-auth-warning');
  if (url.username) args.push('--user', decodeURIComponent(url.username));
  args.push('-t', 'get', '-q', '-n', '200000');
  const output = await new Promise<string | null>((resolve) => {
    const child = spawn('redis-benchmark', args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    child.on('error', () => resolve(null));
    child.on('close', (code) => resolve(code === 0 ? text : null));
  });
  // Progress is redrawn with \r; the final figure is the line "GET: N requests per second…".
  for (const line of output?.split(/[\r\n]+/) ?? []) {
    const match = /^GET: ([\d.]+) requests per second/.exec(line.trim());
    if (match) return Number(match[1]);
  }
  return null;
}

const KINDS: Record<string, string> = {
  exp: 'expiry index',
  sub: 'subject index',
  lru: 'activity index',
  ended: 'tombstones',
};

/** Which part of the layout a key is (keys.ts). */
function kindOf(key: string): string {
  if (key.includes('}:s:')) return 'session hash';
  const suffix = key.slice(key.lastIndexOf(':') + 1);
  return KINDS[suffix] ?? `other (${suffix})`;
}

async function memory(admin: Redis, prefix: string): Promise<BenchRow[]> {
  await deletePrefix(admin, prefix);
  const engine = await openEngine(prefix);
  // {"d":"xxx…"} is 64 bytes of JSON.
  const data = { d: 'x'.repeat(56) };
  try {
    await concurrently(MEMORY_SESSIONS, IN_FLIGHT, (i) =>
      engine.create({ subject: `user-${i}`, data }),
    );
    // Delivered events leave the outbox, so only the sessions themselves are counted.
    await engine.deliverEvents();
  } finally {
    await engine.close();
  }

  const keys = await keysUnder(admin, prefix);
  const bytes = new Map<string, number>(
    ['session hash', ...Object.values(KINDS)].map((kind) => [kind, 0]),
  );
  for (let k = 0; k < keys.length; k += 1000) {
    const page = keys.slice(k, k + 1000);
    const pipeline = admin.pipeline();
    for (const key of page) pipeline.call('MEMORY', 'USAGE', key, 'SAMPLES', '0');
    const replies = (await pipeline.exec()) ?? [];
    replies.forEach(([error, usage], j) => {
      if (error) throw error;
      const kind = kindOf(page[j] as string);
      bytes.set(kind, (bytes.get(kind) ?? 0) + Number(usage ?? 0));
    });
  }
  const total = [...bytes.values()].reduce((sum, n) => sum + n, 0) / MEMORY_SESSIONS;
  return [
    {
      name: `memory per session (${MEMORY_SESSIONS.toLocaleString('en-US')} sessions, 64-byte data)`,
      value: total,
      unit: 'bytes',
      target: { text: '<= 400 bytes', met: total <= 400 },
    },
    ...[...bytes].flatMap(([kind, sum]) =>
      sum === 0
        ? []
        : [{ name: `  of which ${kind}`, value: sum / MEMORY_SESSIONS, unit: 'bytes' }],
    ),
  ];
}
