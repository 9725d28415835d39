import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { AppOptions } from '../../packages/server/src/server/index.js';
import { API_KEY, type Harness, startHarness } from './harness.js';

// Over a real socket: the client address is the TCP peer's (127.0.0.1), or what X-Forwarded-For
// says when --trust-proxy believes the peer.
const open: Harness[] = [];
afterEach(async () => {
  for (const h of open.splice(0)) await h.close();
});

async function listening(app: Partial<AppOptions>): Promise<{ base: string; h: Harness }> {
  const h = await startHarness({ app });
  open.push(h);
  await h.app.listen({ host: '127.0.0.1', port: 0 });
  return { base: `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`, h };
}

async function newSession(base: string) {
  const response = await fetch(`${base}/v1/sessions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ subject: 'nat-user' }),
  });
  expect(response.status).toBe(201);
  return (await response.json()) as { token: string; refreshToken: string };
}

function validate(base: string, token: string, forwardedFor?: string) {
  return fetch(`${base}/v1/session/validate`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      ...(forwardedFor ? { 'x-forwarded-for': forwardedFor } : {}),
    },
  });
}

function refresh(base: string, refreshToken: string) {
  return fetch(`${base}/v1/session/refresh`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ refreshToken }),
  });
}

const BAD = 'sks_AAAAAAAAAAAAAAAAAAAAAA.guess';

describe('the failure rate limit (default 30 a minute)', () => {
  it('never refuses a valid validate or refresh from an address that sent 31+ bad tokens', async () => {
    const { base } = await listening({ rateLimitFailuresPerMinute: 30 });
    const user = await newSession(base);
    const statuses: number[] = [];
    for (let i = 0; i < 35; i++) statuses.push((await validate(base, BAD)).status);
    expect(statuses.slice(0, 30).every((status) => status === 401)).toBe(true);
    expect(statuses.slice(30)).toEqual([429, 429, 429, 429, 429]);
    // The same address (a NAT, a proxy): the user with a valid token is not locked out.
    const valid = await validate(base, user.token);
    expect(valid.status).toBe(200);
    const refreshed = await refresh(base, user.refreshToken);
    expect(refreshed.status).toBe(200);
    const pair = (await refreshed.json()) as { refreshToken: string };
    expect((await refresh(base, pair.refreshToken)).status).toBe(200);
    // The guesser still is.
    const limited = await refresh(base, 'skr_AAAAAAAAAAAAAAAAAAAAAA.guess');
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});

describe('--trust-proxy', () => {
  it('limits the X-Forwarded-For client when the proxy is trusted', async () => {
    const { base } = await listening({ rateLimitFailuresPerMinute: 3, trustProxy: ['127.0.0.1'] });
    for (let i = 0; i < 3; i++) expect((await validate(base, BAD, '203.0.113.5')).status).toBe(401);
    expect((await validate(base, BAD, '203.0.113.5')).status).toBe(429);
    // Another client behind the same proxy has its own allowance.
    expect((await validate(base, BAD, '203.0.113.6')).status).toBe(401);
    // The proxy appends the peer it saw: a forged left-most entry does not change who is counted.
    expect((await validate(base, BAD, '198.51.100.1, 203.0.113.5')).status).toBe(429);
  });

  it('takes a hop count', async () => {
    const { base } = await listening({ rateLimitFailuresPerMinute: 2, trustProxy: 1 });
    for (let i = 0; i < 2; i++) expect((await validate(base, BAD, '203.0.113.7')).status).toBe(401);
    expect((await validate(base, BAD, '203.0.113.7')).status).toBe(429);
    expect((await validate(base, BAD, '203.0.113.8')).status).toBe(401);
  });

  it('is off by default: X-Forwarded-For cannot make a client someone else', async () => {
    const { base } = await listening({ rateLimitFailuresPerMinute: 2 });
    for (let i = 0; i < 2; i++) expect((await validate(base, BAD, '203.0.113.9')).status).toBe(401);
    expect((await validate(base, BAD, '203.0.113.10')).status).toBe(429);
  });

  it('refuses a setting that is not an address, a range, a hop count or a boolean', async () => {
    await expect(startHarness({ app: { trustProxy: ['10.0.0.0/40'] } })).rejects.toThrow(
      /trustProxy: .*not an IP address or CIDR range/,
    );
  });
});
