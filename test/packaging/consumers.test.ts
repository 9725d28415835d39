// The packages as users install them: every workspace is packed once, then a few consumer
// projects install only the tarballs (and what such an app has anyway) into a fresh directory
// outside the repo, type-check code written against the documented API with `strict: true` and
// `skipLibCheck: false`, and run what must work (or fail plainly) without the optional peers.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const REPO = resolve(import.meta.dirname, '../..');
const TSC = join(REPO, 'node_modules/typescript/bin/tsc');

/**
 * The environment of the commands run in a consumer project: without the export condition that
 * points package names at src/ (NODE_OPTIONS from vitest.config.ts) and without the npm_* settings
 * of an enclosing `npm test` (its prefix is the repo), so npm and node see what a user's would.
 */
function consumerEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { SESSIONKEEPER_LOG_LEVEL: 'silent' };
  const keep = new Set(['npm_config_cache', 'npm_config_registry', 'npm_config_userconfig']);
  for (const [key, value] of Object.entries(process.env)) {
    if (key === 'NODE_OPTIONS' || (key.toLowerCase().startsWith('npm_') && !keep.has(key))) {
      continue;
    }
    env[key] = value;
  }
  return env;
}

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

async function exec(cmd: string, args: string[], cwd: string): Promise<Outcome> {
  try {
    const { stdout, stderr } = await run(cmd, args, {
      cwd,
      env: consumerEnv(),
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: unknown; stdout?: string; stderr?: string; message: string };
    if (typeof e.code !== 'number') throw error; // could not start at all
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? e.message };
  }
}

/** The version of a third-party package the repo installed, so the npm cache already has it. */
async function repoVersion(name: string): Promise<string> {
  const pkg = JSON.parse(await readFile(join(REPO, 'node_modules', name, 'package.json'), 'utf8'));
  return `${name}@${pkg.version}`;
}

interface Consumer {
  /** Our packages, installed from their tarballs. */
  ours: string[];
  /** Third-party packages (at the versions the repo uses). */
  theirs: string[];
  /** tsconfig file name -> its compiler options and the files it checks (name -> source). */
  projects: Record<string, { compilerOptions: object; files: Record<string, string> }>;
}

const NODE_TSCONFIG = {
  strict: true,
  skipLibCheck: false,
  skipDefaultLibCheck: true, // TypeScript's own lib.*.d.ts only: every package's .d.ts is checked
  module: 'NodeNext',
  moduleResolution: 'NodeNext',
  target: 'ES2022',
  lib: ['ES2023'],
  noEmit: true,
};

const BROWSER_TSCONFIG = {
  strict: true,
  skipLibCheck: false,
  skipDefaultLibCheck: true,
  module: 'ESNext',
  moduleResolution: 'Bundler',
  target: 'ES2022',
  lib: ['ES2023', 'DOM'],
  types: [], // a browser app has no @types/node
  noEmit: true,
};

const CONSUMERS: Record<string, Consumer> = {
  // The browser: the client alone (no dependency, no Node types), then with the React bindings.
  browser: {
    ours: ['@sessionkeeper/client', '@sessionkeeper/react'],
    theirs: ['react', '@types/react'],
    projects: {
      'tsconfig.json': {
        compilerOptions: BROWSER_TSCONFIG,
        files: {
          'client.ts': `
import { createSessionClient, SessionClientError, type SessionState } from '@sessionkeeper/client';

declare function showLogin(reason: string): void;
const session = createSessionClient({
  baseUrl: 'https://app.example.com',
  storage: localStorage,
  reauthenticate: async () => (await fetch('/login/silent', { method: 'POST' })).json(),
});
session.on('loggedOut', ({ reason }) => showLogin(reason));
session.on('error', (error: SessionClientError) => console.warn(error.code));
const response: Response = await session.fetch('/api/orders');
const cookies = createSessionClient({ baseUrl: location.origin, transport: 'cookie' });
await cookies.validate();
const state: SessionState = cookies.getState();
console.log(response.status, state.status);
`,
        },
      },
      'tsconfig.react.json': {
        compilerOptions: { ...BROWSER_TSCONFIG, jsx: 'react-jsx' },
        files: {
          'app.tsx': `
import { createSessionClient } from '@sessionkeeper/client';
import {
  SessionExpiryWarning,
  SessionProvider,
  useExpiryWarning,
  useSession,
} from '@sessionkeeper/react';

function Me() {
  const { status, fetch } = useSession();
  const { expiring, secondsLeft, extend } = useExpiryWarning();
  return (
    <button type="button" onClick={() => void (expiring ? extend() : fetch('/api/me'))}>
      {status} {secondsLeft}
    </button>
  );
}

const session = createSessionClient({ baseUrl: location.origin, transport: 'cookie' });
export const app = (
  <SessionProvider client={session}>
    <Me />
    <SessionExpiryWarning message="You will be signed out in" buttonLabel="Stay signed in" />
  </SessionProvider>
);
`,
        },
      },
    },
  },
  // Node apps with every adapter, SQLite installed (its types not), the service embedded, and
  // the pool in a real browser.
  node: {
    ours: [
      'sessionkeeper',
      '@sessionkeeper/middleware',
      '@sessionkeeper/express',
      '@sessionkeeper/fastify',
      '@sessionkeeper/redis',
      '@sessionkeeper/postgres',
      '@sessionkeeper/server',
      '@sessionkeeper/pool',
      '@sessionkeeper/express-session',
    ],
    theirs: [
      'express',
      '@types/express',
      'express-session',
      '@types/express-session',
      'fastify',
      'better-sqlite3',
      'playwright-core',
      '@types/node',
    ],
    projects: {
      'tsconfig.json': {
        compilerOptions: NODE_TSCONFIG,
        files: {
          'express.ts': `
import express from 'express';
import {
  createAccessTokenVerifier,
  createSessionEngine,
  SessionExpiredError,
  type SessionStore,
  toProblem,
} from 'sessionkeeper';
import { createSqliteStore } from 'sessionkeeper/sqlite';
import { createMemoryStore } from 'sessionkeeper/memory';
import { accessTokenMiddleware, sessionMiddleware } from '@sessionkeeper/express';

declare module '@sessionkeeper/express' {
  interface SessionkeeperRegister {
    data: { name: string; plan: 'free' | 'pro' };
  }
}

type UserData = { name: string; plan: 'free' | 'pro' };
declare function deleteUploadsOf(id: string): Promise<void>;

const store: SessionStore = createSqliteStore({ path: './data/sessions.db', busyTimeoutMs: 5000 });
const engine = await createSessionEngine<UserData>({
  store,
  tokens: { accessTokenTtlSeconds: 900 },
});
const sk = sessionMiddleware(engine, { loginPath: '/login' });
sk.onSessionEnded(async (event) => deleteUploadsOf(event.session.id));

const app = express();
app.use(sk);
app.post('/login', express.json(), async (req, res) => {
  const { session, token } = await sk
    .context(req)
    .login({ subject: 'user-42', data: { name: 'Ann', plan: 'pro' } });
  res.json({ id: session.id, token });
});
app.post('/logout', async (req, res) => {
  await req.sessionkeeper.logout();
  res.status(204).end();
});
app.get('/api/me', sk.guard(), (req, res) => {
  const plan: 'free' | 'pro' | undefined = req.sessionkeeper.session?.data.plan;
  res.json({ name: sk.context(req).session?.data.name, plan });
});
app.post('/api/reports', sk.guard(), sk.hold(), async (_req, res) => {
  res.json({ ok: true });
});
app.use(sk.errorHandler);

const api = accessTokenMiddleware({
  accessTokens: { jwks: 'https://sessions.example.com/.well-known/jwks.json' },
  problemTypeBase: 'https://sessions.example.com',
});
app.get('/api/orders', api, api.guard(), (req, res) => {
  res.json({ subject: req.sessionkeeper.claims?.sub });
});

const { tokens } = await engine.create({ subject: 'user-42', tokens: true });
if (!tokens) throw new Error('asked for tokens');
const checked = await engine.verifyAccessToken(tokens.accessToken);
const next = await engine.refresh(tokens.refreshToken);
if (!next.ok) console.log(toProblem(next.error).type);
const verifier = createAccessTokenVerifier({
  jwks: 'https://sessions.example.com/.well-known/jwks.json',
  issuer: 'sessionkeeper',
  audience: 'sessionkeeper',
});
await verifier.verify(tokens.accessToken);
const scratch = await createSessionEngine({ store: createMemoryStore() });
console.log(checked.ok, next.ok || next.error instanceof SessionExpiredError);
await scratch.close();
await engine.close();
`,
          'fastify.ts': `
import Fastify from 'fastify';
import { createSessionEngine } from 'sessionkeeper';
import { sessionPlugin } from '@sessionkeeper/fastify';

declare function buildReport(signal: AbortSignal): Promise<{ rows: number }>;
declare function deleteUploadsOf(id: string): Promise<void>;

const engine = await createSessionEngine();
const app = Fastify();
await app.register(sessionPlugin, { engine, loginPath: '/login', holderRoutes: true });
app.sessionkeeper.onSessionEnded(async (event) => deleteUploadsOf(event.session.id));
app.post('/login', async (request) => {
  const { session } = await request.sessionkeeper.login({ subject: 'user-42' });
  return { id: session.id };
});
app.get('/api/me', { preHandler: app.sessionkeeper.guard() }, async (request) => request.sessionkeeper.session);
app.post('/api/reports', { preHandler: app.sessionkeeper.guard() }, async (request) =>
  request.holdSession((signal) => buildReport(signal)),
);
await app.listen({ port: 0 });
`,
          'stores.ts': `
import { createSessionEngine } from 'sessionkeeper';
import { createPostgresStore } from '@sessionkeeper/postgres';
import { createRedisStore } from '@sessionkeeper/redis';

const postgres = await createSessionEngine({
  store: await createPostgresStore({ url: 'postgres://app@db.internal:5432/app', schema: 'sessions' }),
});
const redis = await createSessionEngine({
  store: await createRedisStore({ url: 'redis://127.0.0.1:6379' }),
});
await Promise.all([postgres.close(), redis.close()]);
`,
          'express-session.ts': `
import express from 'express';
import session from 'express-session';
import { createSessionEngine } from 'sessionkeeper';
import { SessionkeeperStore } from '@sessionkeeper/express-session';

declare function deleteUploads(data: Record<string, unknown>): Promise<void>;

const engine = await createSessionEngine();
const store = new SessionkeeperStore(engine, { userField: 'userId', absoluteTimeoutSeconds: 12 * 3600 });
store.onSessionEnded(async (event) => deleteUploads(event.session.data));
const app = express();
app.use(session({ store, secret: 'a secret', resave: false, saveUninitialized: false }));
const mine = await store.listUserSessions('user-42');
await store.revokeUser('user-42');
console.log(mine.length);
`,
          'service.ts': `
import { createServer, generateApiKey, webhookSignature } from '@sessionkeeper/server';

const server = await createServer({
  store: 'sqlite:./data/sessionkeeper.db',
  idleTimeoutSeconds: 3600,
});
await server.listen({ host: '127.0.0.1', port: 0 });
console.log(generateApiKey().length, typeof webhookSignature);
await server.close();
`,
        },
      },
      // playwright-core's own declarations name DOM types (page.evaluate): its users need "DOM".
      'tsconfig.browser.json': {
        compilerOptions: { ...NODE_TSCONFIG, lib: ['ES2023', 'DOM'], types: ['node'] },
        files: {
          'browser-pool.ts': `
import { createSessionPool, detectors } from '@sessionkeeper/pool';
import { browserSessionKind } from '@sessionkeeper/pool/browser';

declare function passwordOf(key: string): Promise<string>;
const pool = createSessionPool({
  kind: browserSessionKind({
    probeUrl: 'https://appointments.example/account',
    async login(page, { key }) {
      await page.goto('https://appointments.example/login');
      await page.fill('input[name="username"]', key);
      await page.fill('input[name="password"]', await passwordOf(key));
      await page.click('button[type="submit"]');
      if ((await page.getAttribute('[data-user]', 'data-user')) !== key) throw new Error('login refused');
    },
  }),
  detectors: [detectors.status(), detectors.loginRedirect('/login'), detectors.text()],
  sessionsPerKey: 2,
});
const slots: string[] = await pool.use('account-1', async (session) => {
  await session.goto('https://appointments.example/appointments');
  return session.page.locator('li[data-slot]').allTextContents();
});
console.log(slots);
await pool.close();
`,
        },
      },
    },
  },
  // A Hono app on Redis and the pool over HTTP: neither better-sqlite3 nor playwright-core.
  lean: {
    ours: [
      'sessionkeeper',
      '@sessionkeeper/middleware',
      '@sessionkeeper/hono',
      '@sessionkeeper/redis',
      '@sessionkeeper/pool',
    ],
    theirs: ['hono', '@types/node'],
    projects: {
      'tsconfig.json': {
        compilerOptions: NODE_TSCONFIG,
        files: {
          'hono.ts': `
import { Hono } from 'hono';
import { createSessionEngine } from 'sessionkeeper';
import { createRedisStore } from '@sessionkeeper/redis';
import { accessTokenMiddleware, type SessionkeeperEnv, sessionMiddleware } from '@sessionkeeper/hono';

type UserData = { name: string };
declare function deleteUploadsOf(id: string): Promise<void>;

const store = await createRedisStore({ url: 'redis://127.0.0.1:6379', keyPrefix: 'app:' });
const engine = await createSessionEngine<UserData>({ store });
const sk = sessionMiddleware(engine, { holderRoutes: true });
sk.onSessionEnded(async (event) => deleteUploadsOf(event.session.id));

const app = new Hono<SessionkeeperEnv<UserData>>();
app.use(sk);
app.onError(sk.onError);
app.post('/login', async (c) => {
  const { session } = await c.get('sessionkeeper').login({ subject: 'user-42', data: { name: 'Ann' } });
  return c.json({ id: session.id });
});
app.get('/api/me', sk.guard(), (c) => c.json({ name: c.get('session')?.data.name ?? null }));
app.post('/api/reports', sk.guard(), sk.hold(), async (c) => c.json({ ok: true }));

const resource = new Hono();
resource.use(accessTokenMiddleware({ accessTokens: { jwks: 'https://sessions.example.com/jwks' } }));
export { app, resource };
`,
          'pool.ts': `
import { createSessionEngine } from 'sessionkeeper';
import { createRedisStore } from '@sessionkeeper/redis';
import {
  createSessionPool,
  detectors,
  engineStateStore,
  httpSessionKind,
  UpstreamSessionExpiredError,
} from '@sessionkeeper/pool';

type Slot = { at: string };
declare function passwordOf(key: string): Promise<string>;

const engine = await createSessionEngine({ store: await createRedisStore('redis://127.0.0.1:6379') });
const pool = createSessionPool({
  kind: httpSessionKind({
    baseUrl: 'https://appointments.example',
    probePath: '/account',
    async login(client) {
      const response = await client.fetch('/login', {
        method: 'POST',
        form: { username: client.key, password: await passwordOf(client.key) },
      });
      if (!(await response.text()).includes('Signed in as')) throw new Error('login refused');
    },
  }),
  detectors: [detectors.status(), detectors.loginRedirect('/login'), detectors.text()],
  state: engineStateStore(engine, { namespace: 'appointments' }),
  sessionsPerKey: 2,
});
const slots: Slot[] = await pool.use('account-1', async (session, { attempt, signal }) => {
  const response = await session.fetch('/appointments', { headers: { accept: 'application/json' } });
  console.log(attempt, signal.aborted);
  return response.json<Slot[]>();
});
const { keys, ...totals } = pool.stats();
console.log(slots.length, keys.length, totals.breaker, UpstreamSessionExpiredError.name);
await pool.close();
await engine.close();
`,
        },
      },
    },
  },
};

let workDir = '';
const dirs = new Map<string, string>();
const installs = new Map<string, Promise<Outcome>>();

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'sessionkeeper-packaging-'));
  // CI has built already (`npm ci` runs prepare); an up-to-date build costs a second or two.
  const build = await exec(process.execPath, [TSC, '-b', 'tsconfig.build.json'], REPO);
  if (build.code !== 0) throw new Error(`build failed:\n${build.stdout}${build.stderr}`);
  const tarballs = join(workDir, 'tarballs');
  await mkdir(tarballs);
  const pack = await exec(
    'npm',
    ['pack', '--workspaces', '--ignore-scripts', '--json', '--pack-destination', tarballs],
    REPO,
  );
  if (pack.code !== 0) throw new Error(`npm pack failed:\n${pack.stderr}`);
  const tarballOf = new Map<string, string>(
    (JSON.parse(pack.stdout) as { name: string; filename: string }[]).map((p) => [
      p.name,
      join(tarballs, p.filename),
    ]),
  );
  expect((await readdir(tarballs)).length).toBe(tarballOf.size);

  // All installs at once: they share npm's cache, and the network waits overlap.
  for (const [name, consumer] of Object.entries(CONSUMERS)) {
    const dir = join(workDir, name);
    dirs.set(name, dir);
    const specs = [
      ...consumer.ours.map((n) => {
        const file = tarballOf.get(n);
        if (!file) throw new Error(`${n} was not packed`);
        return file;
      }),
      ...(await Promise.all(consumer.theirs.map(repoVersion))),
    ];
    installs.set(
      name,
      (async () => {
        await mkdir(dir);
        await writeFile(
          join(dir, 'package.json'),
          JSON.stringify({ name: `consumer-${name}`, private: true, type: 'module' }),
        );
        for (const [tsconfig, { compilerOptions, files }] of Object.entries(consumer.projects)) {
          const names = Object.keys(files);
          await writeFile(join(dir, tsconfig), JSON.stringify({ compilerOptions, files: names }));
          for (const file of names) await writeFile(join(dir, file), files[file] as string);
        }
        // Types need no native build, so install scripts stay off (better-sqlite3 would compile).
        const flags = ['--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'];
        return exec('npm', ['install', ...flags, ...specs], dir);
      })(),
    );
  }
  // Fail here, once, with npm's own words, rather than in every test.
  for (const [name, install] of installs) {
    const outcome = await install;
    if (outcome.code !== 0) throw new Error(`npm install in ${name} failed:\n${outcome.stderr}`);
  }
}, 150_000);

afterAll(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe.concurrent('a consumer project with strict: true, skipLibCheck: false type-checks', () => {
  for (const name of Object.keys(CONSUMERS)) {
    it(name, async () => {
      const dir = dirs.get(name) as string;
      for (const project of Object.keys(CONSUMERS[name]?.projects ?? {})) {
        const tsc = await exec(process.execPath, [TSC, '-p', project], dir);
        expect(tsc.stdout + tsc.stderr, `tsc -p ${project} in ${name}`).toBe('');
        expect(tsc.code).toBe(0);
      }
    });
  }
});

/** Writes an ES module into a consumer project; returns its path. */
async function writeModule(consumer: string, source: string): Promise<string> {
  const file = join(dirs.get(consumer) as string, `check-${randomUUID()}.mjs`);
  await writeFile(file, source);
  return file;
}

/** Runs an ES module in a consumer project, the way a user's app would load our packages. */
async function runModule(consumer: string, source: string): Promise<Outcome> {
  return exec(
    process.execPath,
    [await writeModule(consumer, source)],
    dirs.get(consumer) as string,
  );
}

describe('without the optional peers installed', () => {
  const consumer = 'lean';

  it('installs neither better-sqlite3 nor playwright-core', async () => {
    const modules = await readdir(join(dirs.get(consumer) as string, 'node_modules'));
    expect(modules).not.toContain('better-sqlite3');
    expect(modules).not.toContain('playwright-core');
  });

  it('the engine loads and runs on another store', async () => {
    const outcome = await runModule(
      consumer,
      `import { createSessionEngine } from 'sessionkeeper';
import { createMemoryStore } from 'sessionkeeper/memory';
const engine = await createSessionEngine({ store: createMemoryStore() });
const { token } = await engine.create({ subject: 'user-42' });
console.log((await engine.validate(token)).ok);
await engine.close();`,
    );
    expect(outcome.stderr).toBe('');
    expect(outcome.stdout.trim()).toBe('true');
  });

  for (const [what, entry, peer] of [
    ['sessionkeeper/sqlite', `import 'sessionkeeper/sqlite';`, 'better-sqlite3'],
    [
      'createSessionEngine() without a store (SQLite by default)',
      `import { createSessionEngine } from 'sessionkeeper';\nawait createSessionEngine();`,
      'better-sqlite3',
    ],
    ['@sessionkeeper/pool/browser', `import '@sessionkeeper/pool/browser';`, 'playwright-core'],
  ] as const) {
    it(`${what} fails with one line naming ${peer}`, async () => {
      const uncaught = await runModule(consumer, entry);
      expect(uncaught.code).not.toBe(0);
      // Node prints the throwing line of our code first, then the error's own line.
      const line = uncaught.stderr.split('\n').find((l) => l.startsWith('MissingPeerDependency'));
      expect(line, uncaught.stderr).toMatch(new RegExp(`needs ${peer}, .*: npm install ${peer}$`));

      const entryFile = await writeModule(consumer, entry);
      const caught = await runModule(
        consumer,
        `try { await import(${JSON.stringify(pathToFileURL(entryFile).href)}); }
catch (error) { console.log(JSON.stringify({ code: error.code, message: error.message })); }`,
      );
      const { code, message } = JSON.parse(caught.stdout) as { code: string; message: string };
      expect(code).toBe('ERR_SESSIONKEEPER_MISSING_PEER');
      expect(message.split('\n')).toHaveLength(1);
      expect(message).toContain(`npm install ${peer}`);
    });
  }
});
