/**
 * Topology 1 of docs/putting-it-together.md: one Express app with the middleware and nothing else.
 * The app signs users in, serves its API and the calls the browser client makes
 * (`/v1/session/*`, `holderRoutes: true`), and cleans up after sessions that end.
 * `npm run example:middleware-only`, then open http://127.0.0.1:3001.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sessionMiddleware } from '@sessionkeeper/express';
import { build } from 'esbuild';
import express from 'express';
import { pino } from 'pino';
import { createSqliteStore } from 'sessionkeeper/sqlite';
import { createSessionEngine } from '../../packages/sessionkeeper/src/core/engine.js';

const PORT = Number(process.env.PORT ?? 3001);
const HOST = process.env.HOST ?? '127.0.0.1';
const IDLE_SECONDS = Number(process.env.IDLE_SECONDS ?? 300);
const DATA_DIR = process.env.DATA_DIR ?? fileURLToPath(new URL('./data/', import.meta.url));
const NOTES_DIR = join(DATA_DIR, 'notes');

type UserData = { name: string };

await mkdir(NOTES_DIR, { recursive: true });
const engine = await createSessionEngine<UserData>({
  store: createSqliteStore({ path: join(DATA_DIR, 'sessions.db') }),
  idleTimeoutSeconds: IDLE_SECONDS,
  sweepIntervalSeconds: 5,
  logger: pino({ level: process.env.SESSIONKEEPER_LOG_LEVEL ?? 'warn' }),
});

// holderRoutes: the browser client's /v1/session/* calls are answered here; no service needed.
const sk = sessionMiddleware(engine, { holderRoutes: true });
const noteOf = (sessionId: string) => join(NOTES_DIR, `${sessionId}.txt`);
sk.onSessionEnded(async (event) => {
  await rm(noteOf(event.session.id), { force: true });
  console.log(
    `session of ${event.session.data.name} ${event.type} (${event.reason}): note deleted`,
  );
});

// The browser client, bundled from source once at start-up (an app would import it from npm).
const clientBundle = await build({
  entryPoints: [fileURLToPath(new URL('../../packages/client/src/index.ts', import.meta.url))],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  write: false,
});
const clientJs = clientBundle.outputFiles[0]?.text ?? '';

const app = express();
app.use(sk); // first: it also answers /v1/session/* and the /problems/* pages

app.get('/', async (_req, res) => {
  res.type('html').send(await readFile(new URL('./index.html', import.meta.url), 'utf8'));
});
app.get('/client.js', (_req, res) => {
  res.type('text/javascript').send(clientJs);
});

// Your authentication goes here; this example trusts the name it is given.
app.post('/login', express.json(), async (req, res) => {
  const name = String((req.body as { name?: unknown }).name ?? '').trim() || 'guest';
  const { session } = await sk.context(req).login({ subject: name, data: { name } });
  res.json({ sessionId: session.id });
});

app.get('/api/me', sk.guard(), (req, res) => {
  const ctx = sk.context(req);
  res.json({
    name: ctx.session?.data.name,
    idleRemainingSeconds: ctx.timing?.idleRemainingSeconds,
  });
});

// Something the session owns: deleted by the cleanup hook when the session ends.
app.put('/api/note', sk.guard(), express.text(), async (req, res) => {
  await writeFile(noteOf(sk.context(req).sessionId as string), String(req.body));
  res.status(204).end();
});
app.get('/api/note', sk.guard(), async (req, res) => {
  const text = await readFile(noteOf(sk.context(req).sessionId as string), 'utf8').catch(() => '');
  res.type('text/plain').send(text);
});

app.use(sk.errorHandler);

const server = app.listen(PORT, HOST, () => {
  const { port } = server.address() as AddressInfo;
  console.log(`middleware-only example on http://${HOST}:${port}`);
});

for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    server.close();
    server.closeAllConnections();
    void engine.close().then(() => process.exit(0));
  });
