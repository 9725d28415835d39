import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { createRedisStore } from '../packages/redis/src/index.js';
import {
  createSessionEngine,
  type SessionEngine,
  type SessionStore,
} from '../packages/sessionkeeper/src/core/index.js';
import { createSqliteStore } from '../packages/sessionkeeper/src/sqlite/index.js';
import { deletePrefix } from './redis.bench.js';
import { type BenchRow, opsPerSecond } from './report.js';

const silent = pino({ level: 'silent' });
const SESSIONS = 2000;
const IN_FLIGHT = 64;
const verifyAsync = promisify(cryptoVerify);

/** Issue 4's figures: refresh ops/s per store, and verifyAccessToken beside raw crypto.verify. */
export async function benchTokens(): Promise<BenchRow[]> {
  const dir = await mkdtemp(join(tmpdir(), 'sk-bench-tokens-'));
  try {
    const rows = [await refreshRate('SQLite', createSqliteStore({ path: join(dir, 'tokens.db') }))];
    const redis = await redisStore();
    if (redis) rows.push(await refreshRate('Redis', redis));
    else console.log('(no Redis at REDIS_URL: the Redis refresh figure is skipped)');
    return [...rows, ...(await verifyRates(join(dir, 'verify.db')))];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const REDIS_PREFIX = `skbench:tokens:${process.pid}:`;

async function redisStore(): Promise<SessionStore | null> {
  try {
    return await createRedisStore({ url: REDIS_URL, keyPrefix: REDIS_PREFIX });
  } catch {
    return null;
  }
}

/** Each refresh spends the token the previous one returned, as a client does, many clients at once. */
async function refreshRate(name: string, store: SessionStore): Promise<BenchRow> {
  const engine = await createSessionEngine({ store, background: false, logger: silent });
  const current: string[] = [];
  for (let i = 0; i < SESSIONS; i++) {
    const { tokens } = await engine.create({ subject: `user-${i}`, tokens: true });
    current.push(tokens?.refreshToken ?? '');
  }
  let next = 0;
  const rate = await concurrentOpsPerSecond(3, async () => {
    const slot = next++ % SESSIONS;
    const result = await engine.refresh(current[slot] ?? '');
    if (!result.ok) throw result.error;
    current[slot] = result.tokens.refreshToken;
  });
  await drainAndClose(engine);
  return { name: `refresh (${name}, rotation + new access token)`, value: rate, unit: 'ops/s' };
}

async function verifyRates(file: string): Promise<BenchRow[]> {
  const engine = await createSessionEngine({
    store: createSqliteStore({ path: file }),
    background: false,
    logger: silent,
  });
  const { tokens } = await engine.create({ subject: 'ada', tokens: true });
  const token = tokens?.accessToken ?? '';
  const jwk = (await engine.jwks()).keys[0];
  const key = createPublicKey({ key: jwk as never, format: 'jwk' });
  const [header, payload, signature] = token.split('.');
  const data = Buffer.from(`${header}.${payload}`);
  const sig = Buffer.from(signature ?? '', 'base64url');
  const check = async () => {
    if (!(await engine.verifyAccessToken(token)).ok) throw new Error('token did not verify');
  };

  const verifySerial = await opsPerSecond(3, check);
  const rawSerial = await opsPerSecond(3, () => cryptoVerify(null, data, key, sig));
  const verifyParallel = await concurrentOpsPerSecond(3, check);
  const rawParallel = await concurrentOpsPerSecond(3, () => verifyAsync(null, data, key, sig));
  await drainAndClose(engine);
  const ratio = verifyParallel / rawParallel;
  return [
    { name: `verifyAccessToken, ${IN_FLIGHT} in flight`, value: verifyParallel, unit: 'ops/s' },
    {
      name: `raw crypto.verify (async), ${IN_FLIGHT} in flight (ceiling)`,
      value: rawParallel,
      unit: 'ops/s',
    },
    {
      name: 'verifyAccessToken / raw crypto.verify, in flight',
      value: ratio,
      unit: 'x',
      target: { text: '>= 0.8 x', met: ratio >= 0.8 },
    },
    { name: 'verifyAccessToken, one at a time', value: verifySerial, unit: 'ops/s' },
    { name: 'raw crypto.verify (sync), one at a time', value: rawSerial, unit: 'ops/s' },
    { name: 'verifyAccessToken / raw, one at a time', value: verifySerial / rawSerial, unit: 'x' },
  ];
}

/** Keeps `IN_FLIGHT` operations running for `seconds`; returns completed operations per second. */
async function concurrentOpsPerSecond(
  seconds: number,
  op: () => Promise<unknown>,
): Promise<number> {
  const end = performance.now() + seconds * 1000;
  let done = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (performance.now() < end) {
        await op();
        done++;
      }
    }),
  );
  return done / ((performance.now() - start) / 1000);
}

async function drainAndClose(engine: SessionEngine): Promise<void> {
  await engine.deliverEvents();
  const onRedis = engine.store.location.startsWith('redis');
  await engine.close();
  if (onRedis) {
    // The dev Redis is shared: remove exactly what this run wrote.
    const admin = new Redis(REDIS_URL);
    try {
      await deletePrefix(admin, REDIS_PREFIX);
    } finally {
      admin.disconnect();
    }
  }
}
