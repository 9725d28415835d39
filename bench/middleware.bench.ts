import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import RedisStore from 'connect-redis';
import express, { type Express } from 'express';
import session from 'express-session';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { sessionMiddleware } from '../packages/express/src/index.js';
import { SessionkeeperStore } from '../packages/express-session/src/index.js';
import { createSessionEngine } from '../packages/sessionkeeper/src/core/engine.js';
import { createSqliteStore } from '../packages/sessionkeeper/src/sqlite/index.js';
import { deletePrefix } from './redis.bench.js';
import type { BenchRow } from './report.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const CONNECTIONS = 10;
const WARMUP_SECONDS = 1;
const SECONDS = 4;
const ROUNDS = 3;
/** Set in the child processes: which app this process serves. */
const SERVE = process.env.SK_BENCH_SERVE as AppKind | undefined;

type AppKind =
  | 'none'
  | 'sessionkeeper'
  | 'express-session'
  | 'express-session-memory'
  | 'express-session-bridge';

declare module 'express-session' {
  interface SessionData {
    subject: string;
  }
}

/**
 * Issue 6's figures: the same small Express app (a route that reads the session) with no session,
 * with sessionkeeper on SQLite, with express-session + connect-redis, and with express-session on
 * the sessionkeeper bridge (@sessionkeeper/express-session, SQLite). Each app runs in its own
 * process (`node --import tsx`, this file with SK_BENCH_SERVE set) so autocannon does not share its
 * event loop; the machine's other core drives the load. The apps are measured in turn, ROUNDS
 * times, and each keeps its best round: other work on the machine only ever slows a round down.
 */
export async function benchMiddleware(): Promise<BenchRow[]> {
  const dir = await mkdtemp(join(tmpdir(), 'sk-bench-mw-'));
  const redis = await reachableRedis();
  const prefix = `skbench:${randomBytes(6).toString('hex')}:`;
  const apps: RunningApp[] = [];
  try {
    apps.push(await startApp('none', { SK_BENCH_DIR: dir }));
    apps.push(await startApp('sessionkeeper', { SK_BENCH_DIR: dir }));
    apps.push(await startApp('express-session-memory', {}));
    apps.push(await startApp('express-session-bridge', { SK_BENCH_DIR: dir }));
    if (redis) apps.push(await startApp('express-session', { SK_BENCH_PREFIX: prefix }));
    else {
      console.log(
        `\nexpress-session + connect-redis skipped: no Redis answers at ${REDIS_URL} (set REDIS_URL).`,
      );
    }
    const best = new Map<AppKind, number>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const app of apps) {
        const rate = await load(app);
        best.set(app.kind, Math.max(rate, best.get(app.kind) ?? 0));
      }
    }

    const none = best.get('none') as number;
    const sk = best.get('sessionkeeper') as number;
    const es = best.get('express-session');
    const bridge = best.get('express-session-bridge') as number;
    const esFloor = best.get('express-session-memory') as number;
    const rows: BenchRow[] = [
      { name: 'GET /me, no session (Express 5)', value: none, unit: 'req/s' },
      { name: 'GET /me, sessionkeeper (SQLite)', value: sk, unit: 'req/s' },
      // express-session's own floor: its in-process MemoryStore does no I/O and keeps nothing.
      { name: 'GET /me, express-session + MemoryStore (floor)', value: esFloor, unit: 'req/s' },
      {
        name: 'GET /me, express-session + sessionkeeper bridge (SQLite)',
        value: bridge,
        unit: 'req/s',
      },
      { name: 'bridge / express-session floor', value: bridge / esFloor, unit: 'x' },
    ];
    if (es !== undefined) {
      rows.push(
        { name: 'GET /me, express-session + connect-redis', value: es, unit: 'req/s' },
        {
          name: 'sessionkeeper / express-session',
          value: sk / es,
          unit: 'x',
          target: { text: '>= 1.5 x', met: sk / es >= 1.5 },
        },
        {
          name: 'bridge / express-session + connect-redis',
          value: bridge / es,
          unit: 'x',
          target: { text: '>= 1.2 x', met: bridge / es >= 1.2 },
        },
      );
    }
    // Time per request is 1/rate: sessionkeeper's extra time as a share of the bare app's time.
    const cost = ((1 / sk - 1 / none) / (1 / none)) * 100;
    rows.push({
      name: 'sessionkeeper cost per request over no session',
      value: cost,
      unit: '%',
      target: { text: '<= 25 %', met: cost <= 25 },
    });
    return rows;
  } finally {
    for (const app of apps) app.child.kill();
    if (redis) {
      await deletePrefix(redis, prefix);
      redis.disconnect();
    }
    await rm(dir, { recursive: true, force: true });
  }
}

interface RunningApp {
  kind: AppKind;
  child: ChildProcess;
  url: string;
  /** The session cookie of the one sign-in every load test reuses. */
  cookie: string;
}

/** Starts the app in a child process and signs in once. */
async function startApp(kind: AppKind, env: Record<string, string>): Promise<RunningApp> {
  const child = fork(fileURLToPath(import.meta.url), [], {
    execArgv: ['-C', 'sessionkeeper-source', '--import', 'tsx'],
    env: { ...process.env, ...env, SK_BENCH_SERVE: kind, SESSIONKEEPER_LOG_LEVEL: 'silent' },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  try {
    const url = `http://127.0.0.1:${await portOf(child)}`;
    const login = await fetch(`${url}/login`, { method: 'POST' });
    if (!login.ok) throw new Error(`${kind}: login answered ${login.status}`);
    const cookie = login.headers
      .getSetCookie()
      .map((header) => header.split(';', 1)[0])
      .join('; ');
    return { kind, child, url, cookie };
  } catch (error) {
    child.kill();
    throw error;
  }
}

/** Requests per second of GET /me with the app's session cookie, after a warm-up. */
async function load(app: RunningApp): Promise<number> {
  const options = {
    url: `${app.url}/me`,
    connections: CONNECTIONS,
    headers: { cookie: app.cookie },
  };
  await autocannon({ ...options, duration: WARMUP_SECONDS });
  const result = await autocannon({ ...options, duration: SECONDS });
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`${app.kind}: ${result.non2xx} non-2xx answers and ${result.errors} errors`);
  }
  return result.requests.average;
}

function portOf(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    child.once('message', (message) => resolve((message as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`benchmark app exited with code ${code}`)));
  });
}

async function reachableRedis(): Promise<Redis | null> {
  const redis = new Redis(REDIS_URL, {
    lazyConnect: true,
    connectTimeout: 1000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on('error', () => {});
  try {
    await redis.connect();
    await redis.ping();
    return redis;
  } catch {
    redis.disconnect();
    return null;
  }
}

// ---- the three apps, each in its own process ----

async function noSessionApp(): Promise<Express> {
  const app = express();
  app.post('/login', (_req, res) => {
    res.json({ subject: 'bench-user' });
  });
  app.get('/me', (_req, res) => {
    res.json({ subject: 'anonymous' });
  });
  return app;
}

async function sessionkeeperApp(): Promise<Express> {
  const engine = await createSessionEngine({
    store: createSqliteStore({ path: join(process.env.SK_BENCH_DIR as string, 'sessions.db') }),
    logger: pino({ level: 'silent' }),
  });
  const sk = sessionMiddleware(engine);
  const app = express();
  app.use(sk);
  app.post('/login', async (req, res) => {
    await req.sessionkeeper.login({ subject: 'bench-user' });
    res.json({ subject: 'bench-user' });
  });
  app.get('/me', sk.guard(), (req, res) => {
    res.json({ subject: req.sessionkeeper.session?.subject });
  });
  return app;
}

/** The same express-session app over two stores: connect-redis (the peer) and our bridge. */
function expressSessionAppWith(store: session.Store): Express {
  const app = express();
  app.use(
    session({
      store,
      secret: randomBytes(32).toString('hex'),
      resave: false,
      saveUninitialized: false,
      cookie: { httpOnly: true, sameSite: 'lax', maxAge: 30 * 60 * 1000 },
    }),
  );
  app.post('/login', (req, res, next) => {
    req.session.regenerate((err) => {
      if (err) return next(err);
      req.session.subject = 'bench-user';
      res.json({ subject: 'bench-user' });
    });
  });
  app.get('/me', (req, res) => {
    if (!req.session.subject) {
      res.status(401).json({ error: 'not signed in' });
      return;
    }
    res.json({ subject: req.session.subject });
  });
  return app;
}

async function expressSessionApp(): Promise<Express> {
  const client = new Redis(REDIS_URL);
  return expressSessionAppWith(
    new RedisStore({ client, prefix: process.env.SK_BENCH_PREFIX as string }),
  );
}

/** The express-session app, unchanged but for its store: the bridge on SQLite. */
async function expressSessionBridgeApp(): Promise<Express> {
  const engine = await createSessionEngine({
    store: createSqliteStore({ path: join(process.env.SK_BENCH_DIR as string, 'bridge.db') }),
    logger: pino({ level: 'silent' }),
  });
  return expressSessionAppWith(new SessionkeeperStore(engine, { userField: 'subject' }));
}

if (SERVE !== undefined) {
  const build = {
    none: noSessionApp,
    sessionkeeper: sessionkeeperApp,
    'express-session': expressSessionApp,
    'express-session-memory': async () => expressSessionAppWith(new session.MemoryStore()),
    'express-session-bridge': expressSessionBridgeApp,
  };
  const app = await build[SERVE]();
  const server = app.listen(0, '127.0.0.1', () => {
    process.send?.({ port: (server.address() as AddressInfo).port });
  });
  process.on('SIGTERM', () => process.exit(0));
}
