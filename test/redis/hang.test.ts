import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from '../../packages/server/src/server/index.js';
import { redisBinariesAvailable } from './redis-env.js';
import { type RedisServerProcess, startRedisServer, waitFor } from './redis-server.js';

const API_KEY = 'hang-test-api-key-0123';
/** The documented bound: a call to a hung store fails within two seconds. */
const BOUND_MS = 2000;

describe.skipIf(!redisBinariesAvailable)(
  'Redis hangs (SIGSTOP): every HTTP call fails within the bound',
  () => {
    let dir: string;
    let server: RedisServerProcess;
    let app: FastifyInstance;
    let base: string;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'sessionkeeper-hang-'));
      server = await startRedisServer({ dir });
      app = await createServer({
        store: server.url,
        apiKey: API_KEY,
        logger: pino({ level: 'silent' }),
        rateLimitFailuresPerMinute: 0,
      });
      await app.listen({ host: '127.0.0.1', port: 0 });
      base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      server?.signal('SIGCONT');
      await app?.close();
      await server?.stop(true);
      await rm(dir, { recursive: true, force: true });
    });

    async function call(method: string, path: string, token = API_KEY, body?: unknown) {
      const started = performance.now();
      const response = await fetch(`${base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      return {
        status: response.status,
        text,
        headers: response.headers,
        ms: performance.now() - started,
      };
    }

    it('answers 503 store-unavailable with Retry-After within 2 s for every call, and recovers after SIGCONT', async () => {
      const newSession = async (subject: string) => {
        const created = await call('POST', '/v1/sessions', API_KEY, { subject });
        expect(created.status).toBe(201);
        return JSON.parse(created.text) as {
          session: { id: string };
          token: string;
          refreshToken: string;
        };
      };
      // A command already written when Redis stopped still runs when it resumes (the 503 says the
      // outcome is unknown, retry): the session that must survive is only read and refreshed; the
      // revocations are aimed at another one.
      const { session, token, refreshToken } = await newSession('kept');
      const doomed = await newSession('doomed');
      const lease = await call('POST', '/v1/session/leases', token, { ttl: 60 });
      expect(lease.status).toBe(201);
      const { leaseId } = JSON.parse(lease.text) as { leaseId: string };

      const calls: [string, () => ReturnType<typeof call>][] = [
        ['create', () => call('POST', '/v1/sessions', API_KEY, { subject: 'other' })],
        ['validate', () => call('POST', '/v1/session/validate', token)],
        ['refresh', () => call('POST', '/v1/session/refresh', 'unused', { refreshToken })],
        ['info', () => call('GET', '/v1/session', token)],
        ['renew', () => call('POST', '/v1/session/renew', token)],
        ['lease', () => call('POST', '/v1/session/leases', token, { ttl: 60 })],
        ['release', () => call('DELETE', `/v1/session/leases/${leaseId}`, token)],
        ['get', () => call('GET', `/v1/sessions/${session.id}`)],
        ['list', () => call('GET', '/v1/sessions?subject=kept')],
        ['update', () => call('PATCH', `/v1/sessions/${session.id}`, API_KEY, { data: { a: 1 } })],
        ['revoke', () => call('DELETE', `/v1/sessions/${doomed.session.id}`)],
        ['revokeSubject', () => call('DELETE', '/v1/subjects/doomed/sessions')],
        ['stats', () => call('GET', '/v1/stats')],
        ['logout', () => call('DELETE', '/v1/session', doomed.token)],
        ['readyz', () => call('GET', '/readyz')],
      ];
      server.signal('SIGSTOP');
      const slow: string[] = [];
      try {
        // One at a time, then all at once: neither the first call after the hang nor a crowd waits longer.
        for (const [name, run] of calls) {
          const { status, text, headers, ms } = await run();
          if (name === 'readyz') expect(status, name).toBe(503);
          else {
            expect(status, `${name}: ${text}`).toBe(503);
            expect(JSON.parse(text).code, name).toBe('STORE_UNAVAILABLE');
            expect(Number(headers.get('retry-after')), name).toBeGreaterThan(0);
          }
          if (ms >= BOUND_MS) slow.push(`${name} ${Math.round(ms)} ms`);
        }
        const together = await Promise.all(calls.map(([, run]) => run()));
        together.forEach(({ status, ms }, i) => {
          expect(status, calls[i]?.[0]).toBe(503);
          if (ms >= BOUND_MS) slow.push(`${calls[i]?.[0]} (concurrent) ${Math.round(ms)} ms`);
        });
      } finally {
        server.signal('SIGCONT');
      }
      expect(slow).toEqual([]);

      // Recovery: the kept session validates, and refreshes with the same token (its rotation, if
      // it ran after the hang, is replayed within the grace window), without an error.
      await waitFor(
        'the service to answer again',
        async () => (await call('GET', '/readyz')).status === 200,
        10_000,
      );
      const validated = await call('POST', '/v1/session/validate', token);
      expect(validated.status, validated.text).toBe(200);
      const refreshed = await call('POST', '/v1/session/refresh', 'unused', { refreshToken });
      expect(refreshed.status, refreshed.text).toBe(200);
    }, 120_000);
  },
);
