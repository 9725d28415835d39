/**
 * Topology 2 of docs/putting-it-together.md: an app (Fastify + the middleware) and
 * `sessionkeeper serve` on one SQLite file. The app signs users in and owns their uploads (its
 * cleanup hook deletes them when a session ends); the service gives other backends (Python, Go,
 * serverless) and the browser client the HTTP API over the same sessions.
 * `npm run example:app-and-service`: the app on http://127.0.0.1:3002, the service on :8082.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sessionPlugin } from '@sessionkeeper/fastify';
import Fastify from 'fastify';
import { pino } from 'pino';
import { createSqliteStore } from 'sessionkeeper/sqlite';
import { createSessionEngine } from '../../packages/sessionkeeper/src/core/engine.js';
import { startService } from '../shared/service-process.js';

const PORT = Number(process.env.PORT ?? 3002);
const SERVICE_PORT = process.env.SERVICE_PORT ?? '8082';
const HOST = process.env.HOST ?? '127.0.0.1';
const DATA_DIR = process.env.DATA_DIR ?? fileURLToPath(new URL('./data/', import.meta.url));
const DB_FILE = join(DATA_DIR, 'sessions.db');
const UPLOADS = join(DATA_DIR, 'uploads');
/** What backends send to the service; set your own (at least 16 characters). */
const API_KEY = process.env.SESSIONKEEPER_API_KEY ?? 'example-api-key-change-me';

await mkdir(UPLOADS, { recursive: true });

// The service on the same SQLite file. A CORS origin lets the app's pages call it from the browser.
const service = await startService(
  ['--store', `sqlite:${DB_FILE}`, '--port', SERVICE_PORT, '--host', HOST],
  {
    SESSIONKEEPER_API_KEY: API_KEY,
    SESSIONKEEPER_CORS_ORIGIN: `http://${HOST}:${PORT}`,
    SESSIONKEEPER_LOG_LEVEL: 'info', // for its start-up line; only warnings are shown
  },
);

const engine = await createSessionEngine({
  store: createSqliteStore({ path: DB_FILE }),
  logger: pino({ level: process.env.SESSIONKEEPER_LOG_LEVEL ?? 'warn' }),
});
// The app's listeners are the default consumer group: every session that ends reaches this hook,
// also when the service ended it (a logout there, a revocation through its API, its sweeper).
engine.onSessionEnded(async (event) => {
  await rm(join(UPLOADS, event.session.id), { recursive: true, force: true });
  console.log(
    `session of ${event.session.subject} ${event.type} (${event.reason}): uploads deleted`,
  );
});

const app = Fastify();
app.addContentTypeParser('text/plain', { parseAs: 'string' }, (_request, body, done) =>
  done(null, body),
);
await app.register(sessionPlugin, { engine });
const guard = app.sessionkeeper.guard();

app.post('/login', async (request) => {
  const name = String((request.body as { name?: unknown } | undefined)?.name ?? 'guest');
  const { session, token } = await request.sessionkeeper.login({ subject: name });
  // The session token also works against the service (Authorization: Bearer), for other backends.
  return { sessionId: session.id, token };
});

app.post('/logout', async (request) => ({ revoked: await request.sessionkeeper.logout() }));

app.get('/api/me', { preHandler: guard }, async (request) => ({
  name: request.sessionkeeper.subject,
  sessionId: request.sessionkeeper.sessionId,
}));

app.put('/api/upload', { preHandler: guard }, async (request, reply) => {
  const dir = join(UPLOADS, request.sessionkeeper.sessionId as string);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'upload.txt'), String(request.body));
  return reply.code(204).send();
});

// The service's backend API (API key) over the same sessions: this user's other sessions.
app.get('/api/sessions', { preHandler: guard }, async (request) => {
  const subject = encodeURIComponent(request.sessionkeeper.subject as string);
  const response = await fetch(`${service.url}/v1/sessions?subject=${subject}`, {
    headers: { authorization: `Bearer ${API_KEY}` },
  });
  return response.json();
});

const address = await app.listen({ host: HOST, port: PORT });
console.log(`app on ${address}`);
console.log(`service on ${service.url}`);

for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    service.child.kill('SIGTERM');
    void app
      .close()
      .then(() => engine.close())
      .then(() => process.exit(0));
  });
