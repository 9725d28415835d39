import { afterEach } from 'vitest';
import { createSessionClient, type SessionClient } from '../../packages/client/src/index.js';
import { type ApiServer, startApiServer } from './api-server.js';

/** Backoff short enough for tests, long enough for a 250 ms outage. */
export const FAST_RETRY = { retries: 8, baseDelayMs: 10, maxDelayMs: 60 };

export interface ClientFixtures {
  /** A real API server, closed after the test (unless the test closed it). */
  server(options?: Parameters<typeof startApiServer>[0]): Promise<ApiServer>;
  /** A client with fast retries, closed after the test. */
  client(options: Parameters<typeof createSessionClient>[0]): SessionClient;
  /** Runs `cleanup` after the test, before the servers and clients close. */
  defer(cleanup: () => unknown): void;
}

/** Servers and clients made in a test are closed after it (registers an `afterEach`). */
export function clientFixtures(): ClientFixtures {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  return {
    async server(options) {
      const api = await startApiServer(options);
      let closed = false;
      cleanups.push(() => (closed ? undefined : api.close()));
      const close = api.close.bind(api);
      api.close = async () => {
        closed = true;
        await close();
      };
      return api;
    },
    client(options) {
      const created = createSessionClient({ retry: FAST_RETRY, ...options });
      cleanups.push(() => created.close());
      return created;
    },
    defer(cleanup) {
      cleanups.push(cleanup);
    },
  };
}
