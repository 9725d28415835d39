/**
 * Topology 3 of docs/putting-it-together.md: a resource server (Hono) that accepts the access
 * tokens `sessionkeeper serve` issues, verifying them with the service's published keys (JWKS):
 * no store, no call to the service per request. `npm run example:resource-server`: the service on
 * http://127.0.0.1:8083 (it issues and refreshes tokens), the API on :3003.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import { accessTokenMiddleware, type SessionkeeperEnv } from '@sessionkeeper/hono';
import { Hono } from 'hono';
import { startService } from '../shared/service-process.js';

const PORT = Number(process.env.PORT ?? 3003);
const SERVICE_PORT = process.env.SERVICE_PORT ?? '8083';
const HOST = process.env.HOST ?? '127.0.0.1';
const DATA_DIR = process.env.DATA_DIR ?? fileURLToPath(new URL('./data/', import.meta.url));
const API_KEY = process.env.SESSIONKEEPER_API_KEY ?? 'example-api-key-change-me';

await mkdir(DATA_DIR, { recursive: true });
// The service that issues the tokens (its own SQLite file; the resource server has none).
const service = await startService(
  ['--store', `sqlite:${join(DATA_DIR, 'sessions.db')}`, '--port', SERVICE_PORT, '--host', HOST],
  {
    SESSIONKEEPER_API_KEY: API_KEY,
    SESSIONKEEPER_LOG_LEVEL: 'info', // for its start-up line; only warnings are shown
  },
);

// Fetched on the first token, cached for 5 minutes, fetched again (once) for an unknown key.
const sk = accessTokenMiddleware({
  accessTokens: { jwks: `${service.url}/.well-known/jwks.json` },
  // The problem pages live on the service: type links point there.
  problemTypeBase: service.url,
});

const app = new Hono<SessionkeeperEnv>();
app.use(sk);
app.onError(sk.onError);

app.get('/api/orders', sk.guard(), (c) => {
  const claims = c.get('sessionkeeper').claims;
  return c.json({ user: claims?.sub, session: claims?.sid, orders: [{ id: 1, item: 'tea' }] });
});

const server = serve({ fetch: app.fetch, hostname: HOST, port: PORT }, (info) => {
  console.log(`resource server on http://${HOST}:${info.port}`);
  console.log(`service on ${service.url}`);
});

for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => {
    service.child.kill('SIGTERM');
    server.close(() => process.exit(0));
  });
