import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createRedisStore } from '../../packages/redis/src/index.js';
import { type Clock, systemClock } from '../../packages/sessionkeeper/src/core/clock.js';
import {
  createSessionEngine,
  type SessionEngine,
} from '../../packages/sessionkeeper/src/core/engine.js';
import type { SessionStore } from '../../packages/sessionkeeper/src/core/store.js';
import type { SessionEvent } from '../../packages/sessionkeeper/src/core/types.js';
import { createSqliteStore } from '../../packages/sessionkeeper/src/sqlite/index.js';
import { deleteKeys, REDIS_URL, redisAvailable, uniquePrefix } from '../redis/redis-env.js';
import { type CliRun, listeningUrl, runCli } from './cli-process.js';
import { startReceiver, type WebhookReceiver } from './webhook-receiver.js';

// Issue 19.1: `sessionkeeper serve` and an app (engines in this process, default consumer group)
// on one store. Every session that ends runs the app's cleanup once and fires the service's
// webhook once, whichever process ended it or swept it; app instances share the work; an app
// that was down catches up.

const API_KEY = 'service-and-app-key-0123456789';
const SECRET = 'webhook-secret-0123456789abcdef';
const ENDED = new Set(['expired', 'revoked', 'evicted']);
const dir = mkdtempSync(join(tmpdir(), 'sk-service-and-app-'));
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Backend {
  /** `--store` (and more flags) for the service. */
  serveArgs: string[];
  openStore(): Promise<SessionStore> | SessionStore;
}

/** The app: an engine whose cleanup hook records which instance ran it for which event. */
interface AppInstance {
  engine: SessionEngine;
  name: string;
}

interface Cleanup {
  instance: string;
  event: SessionEvent;
}

async function waitUntil(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function describeServiceAndApp(name: string, backend: () => Backend): void {
  describe(`the service and an app on one ${name} store`, () => {
    it('runs the app’s cleanup and fires the service’s webhook once for every session that ends', async () => {
      const { serveArgs, openStore } = backend();
      const hooks: WebhookReceiver = await startReceiver();
      cleanup.push(() => hooks.close());

      const runs: CliRun[] = [];
      cleanup.push(async () => {
        for (const run of runs) {
          if (run.child.exitCode === null && run.child.signalCode === null)
            run.child.kill('SIGKILL');
          await run.exited;
        }
      });
      const startService = async () => {
        const run = runCli(
          ['serve', '--port', '0', '--log-level', 'info', '--webhook', hooks.url, ...serveArgs],
          { SESSIONKEEPER_API_KEY: API_KEY, SESSIONKEEPER_WEBHOOK_SECRET: SECRET },
        );
        runs.push(run);
        return listeningUrl(run);
      };

      const cleaned: Cleanup[] = [];
      const apps: AppInstance[] = [];
      const startApp = async (instance: string, clock: Clock = systemClock) => {
        const engine = await createSessionEngine({
          store: await openStore(),
          clock,
          logger: pino({ level: 'silent' }),
          eventPollIntervalSeconds: 0.1,
          sweepIntervalSeconds: 3600, // sweeps once at start, then only when the test says
        });
        // Small batches and a cleanup that takes a while, so two instances both get work.
        engine.onSessionEnded(
          async (event) => {
            cleaned.push({ instance, event });
            await sleep(20);
          },
          { batchSize: 3 },
        );
        const app = { engine, name: instance };
        apps.push(app);
        cleanup.push(() => engine.close());
        return app;
      };

      let url = await startService();
      const appA = await startApp('a');
      await startApp('b');

      const call = async (
        method: string,
        path: string,
        auth: string,
        body?: unknown,
      ): Promise<Response> => {
        const response = await fetch(`${url}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${auth}`,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        return response;
      };
      const create = async (subject: string, idleTimeout?: number) => {
        const response = await call('POST', '/v1/sessions', API_KEY, {
          subject,
          ...(idleTimeout === undefined ? {} : { idleTimeout }),
        });
        expect(response.status).toBe(201);
        return (await response.json()) as { session: { id: string }; token: string };
      };
      const endedHooks = () =>
        hooks.received
          .filter((hook) => hook.status === 200)
          .map((hook) => JSON.parse(hook.body) as { type: string; session: { id: string } })
          .filter((payload) => ENDED.has(payload.type));
      const expectOnceEach = (ids: readonly string[]) => {
        for (const id of ids) {
          const runs = cleaned.filter((c) => c.event.session.id === id);
          expect(runs, `cleanup of ${id}`).toHaveLength(1);
          const fired = endedHooks().filter((payload) => payload.session.id === id);
          expect(fired, `webhook of ${id}`).toHaveLength(1);
        }
      };
      const settled = (ids: readonly string[]) =>
        ids.every(
          (id) =>
            cleaned.some((c) => c.event.session.id === id) &&
            endedHooks().some((payload) => payload.session.id === id),
        );

      // 1. Logout through the service, 2. revocation through the API, 3. idle expiry found by the
      // app's sweeper, 4. idle expiry found by the service's sweeper (on its restart).
      const loggedOut = await create('u-logout');
      expect((await call('DELETE', '/v1/session', loggedOut.token)).status).toBe(204);
      const revoked = await create('u-revoke');
      expect((await call('DELETE', `/v1/sessions/${revoked.session.id}`, API_KEY)).status).toBe(
        204,
      );
      const idleForApp = await create('u-idle-app', 1);
      await sleep(1200);
      expect((await appA.engine.sweep()).expired).toBe(1);
      const idleForService = await create('u-idle-service', 1);
      await sleep(1200);
      const first = runs[0] as CliRun;
      first.child.kill('SIGTERM');
      await first.exited;
      url = await startService(); // its start-up sweep finds the idle session

      const ended = [loggedOut, revoked, idleForApp, idleForService].map((s) => s.session.id);
      await waitUntil('cleanup and webhooks of the four sessions', () => settled(ended));
      await sleep(500); // anything that would be delivered twice has had time to arrive
      expectOnceEach(ended);
      const reasons = Object.fromEntries(
        cleaned.map((c) => [c.event.session.id, `${c.event.type}:${c.event.reason}`]),
      );
      expect(ended.map((id) => reasons[id])).toEqual([
        'revoked:logout',
        'revoked:logout', // DELETE /v1/sessions/{id} revokes with reason logout
        'expired:idle',
        'expired:idle',
      ]);

      // Two app instances share the work without duplicates.
      const many = await Promise.all(Array.from({ length: 24 }, () => create('u-many')));
      expect((await call('DELETE', '/v1/subjects/u-many/sessions', API_KEY)).status).toBe(200);
      const manyIds = many.map((s) => s.session.id);
      await waitUntil('cleanup and webhooks of 24 sessions', () => settled(manyIds));
      await sleep(500);
      expectOnceEach(manyIds);
      const byInstance = (instance: string) =>
        cleaned.filter((c) => manyIds.includes(c.event.session.id) && c.instance === instance)
          .length;
      expect(byInstance('a') + byInstance('b')).toBe(24);
      expect(byInstance('a')).toBeGreaterThan(0);
      expect(byInstance('b')).toBeGreaterThan(0);

      // The app goes away; sessions end meanwhile; it comes back 30 s later (its clock says so:
      // the outbox keeps its group's events for eventGroupRetentionSeconds, 24 h by default).
      for (const app of apps.splice(0)) await app.engine.close();
      const whileAway = await Promise.all(['w1', 'w2', 'w3'].map((s) => create(s)));
      for (const s of whileAway)
        expect((await call('DELETE', `/v1/sessions/${s.session.id}`, API_KEY)).status).toBe(204);
      const awayIds = whileAway.map((s) => s.session.id);
      await waitUntil('webhooks while the app is away', () =>
        awayIds.every((id) => endedHooks().some((p) => p.session.id === id)),
      );
      expect(cleaned.filter((c) => awayIds.includes(c.event.session.id))).toEqual([]);
      const later: Clock = { now: () => Date.now() + 30_000 };
      await startApp('restarted', later);
      await waitUntil('the restarted app to catch up', () =>
        awayIds.every((id) => cleaned.some((c) => c.event.session.id === id)),
      );
      await sleep(500);
      expectOnceEach(awayIds);
      // Nothing it had already handled came back.
      expect(
        cleaned
          .filter((c) => c.instance === 'restarted')
          .map((c) => c.event.session.id)
          .sort(),
      ).toEqual([...awayIds].sort());
    }, 120_000); // several CLI starts: slow on a loaded machine
  });
}

let files = 0;
describeServiceAndApp('SQLite', () => {
  const path = join(dir, `shared-${++files}.db`);
  return {
    serveArgs: ['--store', `sqlite:${path}`],
    openStore: () => createSqliteStore({ path }),
  };
});

describe.skipIf(!redisAvailable)('on Redis', () => {
  const prefix = uniquePrefix();
  afterAll(async () => {
    await deleteKeys(REDIS_URL, prefix);
  });
  describeServiceAndApp('Redis', () => ({
    serveArgs: ['--store', REDIS_URL, '--redis-key-prefix', prefix],
    openStore: () => createRedisStore({ url: REDIS_URL, keyPrefix: prefix }),
  }));
});
