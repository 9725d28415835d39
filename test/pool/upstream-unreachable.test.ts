// An upstream that cannot be reached, or stops answering, in the middle of an operation: every
// request is bounded by requestTimeoutSeconds (a plain timer, which garbage collections cannot
// take away), and the caller gets one typed error (upstream-unavailable, with the cause), never
// undici's raw error and never a rerun as if the session had expired.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type BreakerState,
  createSessionPool,
  type HttpClient,
  type HttpSession,
  httpSessionKind,
  type PoolEvents,
  UpstreamUnavailableError,
} from '../../packages/pool/src/index.js';
import { signedInAs, siteKind, startSite } from './http-site.js';

// Forced collections, as `node --expose-gc` gives them, without a child process.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/**
 * A site that logs anyone in (POST /login), then never answers GET /hang and answers GET /drip
 * with its headers and then one byte every 100 ms, forever.
 */
async function stallingSite(): Promise<string> {
  const server = createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/login') {
      req.resume();
      res.writeHead(302, { location: '/', 'set-cookie': 'sid=1; Path=/' }).end();
    } else if (req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<p>home</p>');
    } else if (req.url === '/drip') {
      res.writeHead(200, { 'content-type': 'text/html' });
      const timer = setInterval(() => res.write('.'), 100);
      res.on('close', () => clearInterval(timer));
    }
    // /hang: nothing, ever
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function login(client: HttpClient): Promise<void> {
  await client.fetch('/login', { method: 'POST', form: { user: client.key } });
}

/** How `work` ends, and after how long; collects garbage every 20 ms meanwhile. */
async function timed(work: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = performance.now();
  const collecting = setInterval(gc, 20);
  try {
    await work;
    return { error: undefined, ms: performance.now() - started };
  } catch (error) {
    return { error, ms: performance.now() - started };
  } finally {
    clearInterval(collecting);
  }
}

describe('an upstream that stops answering or cannot be reached', () => {
  for (const path of ['/hang', '/drip']) {
    it(`a request to ${path} ends at requestTimeoutSeconds, under forced garbage collections, as upstream-unavailable`, async () => {
      const baseUrl = await stallingSite();
      const pool = createSessionPool({
        kind: httpSessionKind({ baseUrl, login, requestTimeoutSeconds: 0.4 }),
        background: false,
      });
      const attempts: number[] = [];
      try {
        // A caller's own signal (combined with the session's) must not weaken the bound either.
        const caller = new AbortController();
        const { error, ms } = await timed(
          pool.use('alice', async (session, { attempt }) => {
            attempts.push(attempt);
            return (await session.fetch(path, { signal: caller.signal })).text();
          }),
        );
        expect(error).toBeInstanceOf(UpstreamUnavailableError);
        expect((error as Error).message).toMatch(/could not be reached/);
        expect(((error as Error).cause as Error).message).toMatch(
          new RegExp(`GET .*${path} got no complete answer within 0.4 s`),
        );
        // 0.4 s, with room for a loaded machine; never the minutes a dripping body could take.
        expect(ms).toBeGreaterThanOrEqual(350);
        expect(ms).toBeLessThan(2500);
        expect(attempts).toEqual([1]);
      } finally {
        await pool.close();
      }
    });
  }

  it('a key that still holds a session gets upstream-unavailable (cause ECONNREFUSED), not a rerun, and the failures feed the breaker', async () => {
    const site = await startSite();
    const pool = createSessionPool({
      kind: siteKind(site),
      background: false,
      breaker: { failureThreshold: 3, cooldownSeconds: 10 },
    });
    const expired: PoolEvents['expired'][] = [];
    const breaker: BreakerState[] = [];
    pool.on('expired', (event) => expired.push(event));
    pool.on('breaker', (event) => breaker.push(event.state));
    const accountOf = async (session: HttpSession) =>
      signedInAs(await (await session.fetch('/account')).text());
    try {
      expect(await pool.use('alice', accountOf)).toBe('alice');
      await site.close(); // the upstream goes down; alice's session stays in the pool
      const attempts: number[] = [];
      const failures: unknown[] = [];
      for (let i = 0; i < 3; i++) {
        failures.push(
          await pool
            .use('alice', (session, info) => {
              attempts.push(info.attempt);
              return accountOf(session);
            })
            .catch((e: unknown) => e),
        );
      }
      for (const failure of failures) {
        expect(failure).toBeInstanceOf(UpstreamUnavailableError);
        expect(failure).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE', status: 503 });
      }
      // The kept-alive connection dies first (a socket error), then connecting is refused.
      const codes = failures.map((f) => ((f as Error).cause as { code?: string }).code);
      expect(['UND_ERR_SOCKET', 'ECONNRESET', 'ECONNREFUSED']).toContain(codes[0]);
      expect(codes.slice(1)).toEqual(['ECONNREFUSED', 'ECONNREFUSED']);
      expect(failures[0]).toMatchObject({ retryAfterSeconds: 1 });
      // The third failure in a row opened the breaker: its caller is told the cooldown.
      expect((failures[2] as UpstreamUnavailableError).retryAfterSeconds).toBeGreaterThan(9);
      expect(breaker).toEqual(['open']);
      expect(attempts).toEqual([1, 1, 1]); // never rerun as an expiry
      expect(expired).toEqual([]);
      expect(pool.stats()).toMatchObject({ sessions: 1, healthy: 1 });
    } finally {
      await pool.close();
    }
  });
});
