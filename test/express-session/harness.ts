import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import express from 'express';
import session from 'express-session';
import { pino } from 'pino';
import {
  SessionkeeperStore,
  type SessionkeeperStoreOptions,
} from '../../packages/express-session/src/index.js';
import { createPostgresStore } from '../../packages/postgres/src/index.js';
import { createRedisStore } from '../../packages/redis/src/index.js';
import {
  createManualClock,
  type ManualClock,
} from '../../packages/sessionkeeper/src/core/clock.js';
import {
  createSessionEngine,
  type SessionEngine,
} from '../../packages/sessionkeeper/src/core/engine.js';
import type { SessionStore } from '../../packages/sessionkeeper/src/core/store.js';
import { createSqliteStore } from '../../packages/sessionkeeper/src/sqlite/index.js';
import {
  dropSchemas,
  POSTGRES_URL,
  postgresAvailable,
  uniqueSchema,
} from '../postgres/postgres-env.js';
import { deleteKeys, REDIS_URL, redisAvailable, uniquePrefix } from '../redis/redis-env.js';

declare module 'express-session' {
  interface SessionData {
    userId?: string | null;
    [key: string]: unknown;
  }
}

/**
 * A durable place for sessions that can be opened again after a restart. Adding a store to the
 * suite is one entry in `STORE_KINDS`.
 */
export interface StoreKind {
  name: string;
  available: boolean;
  /** A fresh place (a file, a key prefix); `open` opens it as often as asked. */
  place(): Promise<StorePlace>;
}

export interface StorePlace {
  open(): SessionStore | Promise<SessionStore>;
  dispose(): Promise<void>;
}

export const STORE_KINDS: StoreKind[] = [
  {
    name: 'SQLite',
    available: true,
    async place() {
      const dir = await mkdtemp(join(tmpdir(), 'sk-es-'));
      return {
        open: () => createSqliteStore({ path: join(dir, 'sessions.db') }),
        dispose: () => rm(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'Redis',
    available: redisAvailable,
    async place() {
      const keyPrefix = uniquePrefix();
      return {
        open: () => createRedisStore({ url: REDIS_URL, keyPrefix }),
        dispose: async () => {
          await deleteKeys(REDIS_URL, keyPrefix);
        },
      };
    },
  },
  {
    name: 'PostgreSQL',
    available: postgresAvailable,
    async place() {
      const schema = uniqueSchema();
      return {
        open: () => createPostgresStore({ url: POSTGRES_URL, schema }),
        dispose: () => dropSchemas([schema]),
      };
    },
  },
];

export interface AppOptions {
  store?: SessionkeeperStoreOptions;
  session?: Partial<session.SessionOptions>;
  engine?: { idleTimeoutSeconds?: number; absoluteTimeoutSeconds?: number };
}

export interface RunningApp {
  url: string;
  engine: SessionEngine;
  store: SessionkeeperStore;
  clock: ManualClock;
  /** Stops the HTTP server and closes the engine (and its store). */
  close(): Promise<void>;
}

const SECRET = randomBytes(32).toString('hex');

/**
 * An Express app the way express-session's users write one, on the bridge. Routes:
 * POST /login?user=      regenerate, then set userId and save (express-session's README)
 * POST /login-in-place?user=   set userId without regenerating
 * POST /set?key=&value=&delay=  set one key (after `delay` ms, so requests overlap)
 * POST /save?key=&value=  set a key, save explicitly, and answer what the store now holds
 * POST /big?bytes=&explicit   store a value of that many bytes (saving explicitly)
 * POST /logout           destroy
 * GET  /me               the session's data
 */
export async function startApp(
  openStore: () => SessionStore | Promise<SessionStore>,
  options: AppOptions = {},
  clock: ManualClock = createManualClock(Date.now()),
): Promise<RunningApp> {
  const engine = await createSessionEngine({
    store: await openStore(),
    clock,
    background: false,
    logger: pino({ level: 'silent' }),
    ...options.engine,
  });
  const store = new SessionkeeperStore(engine, options.store);
  const server = await serveApp(store, options.session);
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    engine,
    store,
    clock,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await engine.close();
    },
  };
}

/** The app on any express-session store (the bridge, connect-redis), listening on 127.0.0.1. */
export function serveApp(
  store: session.Store,
  sessionOptions: Partial<session.SessionOptions> = {},
): Promise<Server> {
  const app = express();
  app.use(
    session({
      store,
      secret: SECRET,
      resave: false,
      saveUninitialized: false,
      cookie: { httpOnly: true, sameSite: 'lax', maxAge: 60_000 },
      ...sessionOptions,
    }),
  );
  app.post('/login', (req, res, next) => {
    req.session.regenerate((err) => {
      if (err) return next(err);
      req.session.userId = String(req.query.user);
      req.session.save((saveErr) => (saveErr ? next(saveErr) : res.json({ ok: true })));
    });
  });
  app.post('/login-in-place', (req, res) => {
    req.session.userId = String(req.query.user);
    res.json({ ok: true });
  });
  app.post('/set', async (req, res) => {
    const delay = Number(req.query.delay ?? 0);
    if (delay > 0) await sleep(delay);
    req.session[String(req.query.key)] = String(req.query.value);
    res.json({ ok: true });
  });
  app.post('/save', (req, res, next) => {
    req.session[String(req.query.key)] = String(req.query.value);
    req.session.save((err) => {
      if (err) return next(err);
      // A second request's view: read the store directly, before this response ends.
      store.get(req.sessionID, (getErr, stored) =>
        getErr ? next(getErr) : res.json({ stored: stored ?? null }),
      );
    });
  });
  app.post('/big', (req, res, next) => {
    req.session.big = 'x'.repeat(Number(req.query.bytes));
    if (req.query.explicit === undefined) return void res.json({ ok: true });
    req.session.save((err) => (err ? next(err) : res.json({ ok: true })));
  });
  app.post('/logout', (req, res, next) => {
    req.session.destroy((err) => (err ? next(err) : res.json({ ok: true })));
  });
  app.get('/me', (req, res) => {
    const { cookie: _cookie, ...data } = req.session;
    res.json({ sessionID: req.sessionID, data });
  });
  // A failed save reaches the app's error handler, as with any express-session store.
  app.use(((err, _req, res, _next) => {
    res.status(500).json({ error: (err as Error).name });
  }) as express.ErrorRequestHandler);
  return listen(app);
}

function listen(app: express.Express): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(0, '127.0.0.1', () => resolve(server));
    server.once('error', reject);
  });
}

/** A browser's view of one site: keeps the cookies the server sets, sends them back. */
export class Browser {
  readonly cookies = new Map<string, string>();
  /** The Set-Cookie headers of the last response. */
  lastSetCookie: string[] = [];

  constructor(public baseUrl: string) {}

  async request(method: string, path: string): Promise<Response> {
    const cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(this.baseUrl + path, {
      method,
      headers: cookie ? { cookie } : {},
    });
    this.lastSetCookie = res.headers.getSetCookie();
    for (const header of this.lastSetCookie) {
      const [pair] = header.split(';', 1);
      const eq = (pair as string).indexOf('=');
      this.cookies.set((pair as string).slice(0, eq), (pair as string).slice(eq + 1));
    }
    return res;
  }

  async json(method: string, path: string): Promise<Record<string, unknown>> {
    const res = await this.request(method, path);
    if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${await res.text()}`);
    return (await res.json()) as Record<string, unknown>;
  }

  /** The data of the session the browser's cookie names (`{}` when none). */
  async me(): Promise<Record<string, unknown>> {
    return (await this.json('GET', '/me')).data as Record<string, unknown>;
  }
}
