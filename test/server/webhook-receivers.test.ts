import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { webhookGroup } from '../../packages/server/src/server/webhooks.js';
import { systemClock } from '../../packages/sessionkeeper/src/core/clock.js';
import { createSqliteStore } from '../../packages/sessionkeeper/src/sqlite/index.js';
import { createSession, startHarness } from './harness.js';
import { startReceiver, type WebhookReceiver } from './webhook-receiver.js';

const SECRET = 'webhook-secret-0123456789abcdef';
const dir = mkdtempSync(join(tmpdir(), 'sk-webhook-receivers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});

// Forced garbage collections in this worker, as `node --expose-gc` would allow.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface SilentReceiver {
  url: string;
  /** Per request: when it arrived and (once it did) when the client closed its connection. */
  connections: { openedAt: number; closedAt: number | null }[];
  close(): Promise<void>;
}

/** Accepts connections and reads requests but never answers a byte. */
async function silentReceiver(): Promise<SilentReceiver> {
  const connections: SilentReceiver['connections'] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    // Timed from the request's first byte: a client may open a connection well before using it.
    let entry: { openedAt: number; closedAt: number | null } | undefined;
    sockets.add(socket);
    socket.on('data', () => {
      if (entry) return;
      entry = { openedAt: Date.now(), closedAt: null };
      connections.push(entry);
    });
    socket.on('close', () => {
      if (entry) entry.closedAt = Date.now();
      sockets.delete(socket);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/never`,
    connections,
    async close() {
      if (!server.listening) return;
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function receiver(): Promise<WebhookReceiver> {
  const started = await startReceiver();
  cleanup.push(() => started.close());
  return started;
}

describe('webhooks: one queue per receiver', () => {
  it('gives each URL a consumer group of its own, stable and without the URL in it', () => {
    const url = 'https://user:pw@hooks.example/x?token=secret';
    expect(webhookGroup(url)).toBe(webhookGroup(url));
    expect(webhookGroup(url)).not.toBe(webhookGroup('https://hooks.example/x'));
    expect(webhookGroup(url)).toMatch(/^webhook-[0-9a-f]{32}$/);
  });

  it('a receiver that never answers delays only itself, each attempt ends at its timeout despite forced GCs, and a restart loses nothing', async () => {
    const dead = await silentReceiver();
    cleanup.push(() => dead.close());
    const healthy = await receiver();
    const timeoutMs = 1000;
    const path = join(dir, 'receivers.db');
    const webhooks = {
      urls: [dead.url, healthy.url],
      secret: SECRET,
      timeoutMs,
      retryDelaysMs: [50],
    };
    const h = await startHarness({
      store: createSqliteStore({ path }),
      engine: {
        clock: systemClock,
        background: true,
        eventPollIntervalSeconds: 0.1,
        eventLeaseSeconds: 5,
        maxEventAttempts: 100,
      },
      app: { webhooks },
    });
    let closed = false;
    cleanup.push(async () => {
      if (!closed) await h.close();
    });
    // A full collection takes tens of ms in a test worker: every 0.5 s still runs several during
    // each attempt, which is what dropped the timeout of AbortSignal.any on Node 20.
    const gcs = setInterval(gc, 500);
    cleanup.push(async () => clearInterval(gcs));

    const ids: string[] = [];
    for (let i = 0; i < 25; i++) ids.push((await createSession(h.app, { subject: `u${i}` })).id);
    const createdAt = Date.now();
    // The healthy receiver gets every event promptly, whatever the dead one does.
    for (const id of ids) {
      await healthy.waitFor((hook) => hook.body.includes(id), 5000);
    }
    expect(Date.now() - createdAt).toBeLessThan(2000);
    // Each event at least once (a loaded machine may make one attempt time out and repeat).
    expect(new Set(healthy.received.map((r) => r.headers['webhook-id'])).size).toBe(25);

    // Let the dead receiver's queue go round a few times (10 at once, retried after 50 ms): about
    // 4 s on an idle machine; the wait is bounded by what happens, not by the clock, so a busy
    // machine only makes it longer. Were an attempt's timeout lost, no connection would close.
    const closedOnes = () => dead.connections.filter((c) => c.closedAt !== null);
    for (const until = Date.now() + 30_000; closedOnes().length <= 25 && Date.now() < until; )
      await new Promise((resolve) => setTimeout(resolve, 100));
    const done = closedOnes();
    // More attempts than events: redeliveries happened, and they too were cut off.
    expect(done.length).toBeGreaterThan(25);
    for (const connection of done) {
      expect((connection.closedAt ?? 0) - connection.openedAt).toBeLessThan(timeoutMs + 1500);
    }
    // Nothing is left hanging past its timeout (with a margin for a loaded machine).
    const now = Date.now();
    const hanging = dead.connections.filter(
      (c) => c.closedAt === null && now - c.openedAt > timeoutMs + 1500,
    );
    expect(hanging).toEqual([]);
    expect(h.logs.join('\n')).toContain(`no answer within ${timeoutMs} ms`);

    // The service restarts, and the receiver that never answered comes back on its port: its
    // queue survived in the outbox, so it gets all 25 events; the healthy one gets nothing twice.
    closed = true;
    await h.close();
    await dead.close();
    const revived = await startReceiver({ port: Number(new URL(dead.url).port) });
    cleanup.push(() => revived.close());
    const again = await startHarness({
      store: createSqliteStore({ path }),
      engine: { clock: systemClock, background: true, eventPollIntervalSeconds: 0.1 },
      app: { webhooks },
    });
    cleanup.push(() => again.close());
    for (const id of ids) await revived.waitFor((hook) => hook.body.includes(id), 10_000);
    expect(new Set(revived.received.map((r) => r.headers['webhook-id'])).size).toBe(25);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(new Set(healthy.received.map((r) => r.headers['webhook-id'])).size).toBe(25);
  }, 90_000);
});
