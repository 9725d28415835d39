import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { type Logger, pino } from 'pino';
import { expect } from 'vitest';
import { type AppOptions, buildApp } from '../../packages/server/src/server/index.js';
import {
  createManualClock,
  type ManualClock,
} from '../../packages/sessionkeeper/src/core/clock.js';
import {
  createSessionEngine,
  type SessionEngine,
} from '../../packages/sessionkeeper/src/core/engine.js';
import type { SessionEngineOptions } from '../../packages/sessionkeeper/src/core/options.js';
import type { Problem } from '../../packages/sessionkeeper/src/core/problem.js';
import type { SessionStore } from '../../packages/sessionkeeper/src/core/store.js';
import { createMemoryStore } from '../../packages/sessionkeeper/src/memory/index.js';
import { createSqliteStore } from '../../packages/sessionkeeper/src/sqlite/index.js';

export const API_KEY = 'test-api-key-0123456789';
export const backend = { authorization: `Bearer ${API_KEY}` };
export const holder = (token: string) => ({ authorization: `Bearer ${token}` });

export interface Harness {
  app: FastifyInstance;
  engine: SessionEngine;
  clock: ManualClock;
  /** Every log line the app and engine wrote, as text. */
  logs: string[];
  close(): Promise<void>;
}

/**
 * An app on a memory store (or `store`) with a manual clock and captured logs. The failure rate
 * limit is off unless `app` sets it, so suites that send many bad tokens test what they mean to.
 */
export async function startHarness(
  options: { store?: SessionStore; engine?: SessionEngineOptions; app?: Partial<AppOptions> } = {},
): Promise<Harness> {
  const clock = createManualClock();
  const logs: string[] = [];
  const logger = capturingLogger(logs);
  const engine = await createSessionEngine({
    store: options.store ?? createMemoryStore(),
    clock,
    background: false,
    logger,
    ...options.engine,
  });
  const app = buildApp(engine, {
    apiKey: API_KEY,
    logger,
    rateLimitFailuresPerMinute: 0,
    ...options.app,
  });
  return {
    app,
    engine,
    clock,
    logs,
    async close() {
      await app.close();
      await engine.close();
    },
  };
}

function capturingLogger(lines: string[]): Logger {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return pino({ level: 'debug' }, sink);
}

export interface CreatedTestSession {
  id: string;
  token: string;
  accessToken: string;
  refreshToken: string;
}

export async function createSession(
  app: FastifyInstance,
  body: Record<string, unknown> = { subject: 'user-1' },
): Promise<CreatedTestSession> {
  const response = await app.inject({
    method: 'POST',
    url: '/v1/sessions',
    headers: backend,
    payload: body,
  });
  expect(response.statusCode, response.body).toBe(201);
  const created = response.json<{
    session: { id: string };
    token: string;
    accessToken: string;
    refreshToken: string;
  }>();
  return {
    id: created.session.id,
    token: created.token,
    accessToken: created.accessToken,
    refreshToken: created.refreshToken,
  };
}

/** The problem body the server sends: the core's, and a request id is always present. */
export type ProblemBody = Problem & { requestId: string };

/** Asserts the response is the problem `code` with `status`, well formed, and returns its body. */
export function expectProblem(
  response: LightMyRequestResponse,
  status: number,
  code: string,
): ProblemBody {
  expect(response.statusCode, response.body).toBe(status);
  expect(response.headers['content-type']).toBe('application/problem+json; charset=utf-8');
  const problem = response.json<ProblemBody>();
  expect(problem.code, response.body).toBe(code);
  expect(problem.status).toBe(status);
  expect(problem.type).toMatch(/^\/problems\/[a-z-]+$/);
  expect(problem.title).toEqual(expect.any(String));
  expect(problem.detail).toEqual(expect.any(String));
  expect(problem.action).toMatch(/^(refresh|reauthenticate|retry|fix-request)$/);
  expect(problem.requestId).toBe(response.headers['x-request-id']);
  expect(Number.isNaN(Date.parse(problem.timestamp))).toBe(false);
  return problem;
}

/**
 * A store that rejects every call with what `failure()` returns while it returns an error: a
 * stand-in for a store that went down after start-up.
 */
export function failingStore(inner: SessionStore, failure: () => Error | null): SessionStore {
  return new Proxy(inner, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      if (property === 'close') return value.bind(target);
      return (...args: unknown[]) => {
        const error = failure();
        return error ? Promise.reject(error) : value.apply(target, args);
      };
    },
  });
}

/** A harness on a SQLite file of its own, listening on 127.0.0.1, with one session made. */
export interface ListeningHarness {
  harness: Harness;
  session: CreatedTestSession;
  port: number;
  /** Closes the harness and deletes its directory. */
  close(): Promise<void>;
}

/** For tests that speak raw HTTP to the app (`sendRaw`) rather than through `inject`. */
export async function startListeningHarness(name: string): Promise<ListeningHarness> {
  const dir = mkdtempSync(join(tmpdir(), `sessionkeeper-${name}-`));
  const harness = await startHarness({
    store: createSqliteStore({ path: join(dir, 'sessions.db') }),
  });
  const session = await createSession(harness.app);
  await harness.app.listen({ host: '127.0.0.1', port: 0 });
  const port = (harness.app.server.address() as AddressInfo).port;
  return {
    harness,
    session,
    port,
    async close() {
      await harness.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
