import { generateKeyPairSync } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import { SignJWT } from 'jose';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { accessTokenMiddleware as expressAccessTokens } from '../../packages/express/src/index.js';
import { sessionPlugin } from '../../packages/fastify/src/index.js';
import {
  accessTokenMiddleware as honoAccessTokens,
  type SessionkeeperEnv,
} from '../../packages/hono/src/index.js';
import type { SessionMiddlewareOptions } from '../../packages/middleware/src/index.js';
import { buildApp } from '../../packages/server/src/server/index.js';
import {
  createManualClock,
  type ManualClock,
} from '../../packages/sessionkeeper/src/core/clock.js';
import {
  createSessionEngine,
  type SessionEngine,
} from '../../packages/sessionkeeper/src/core/engine.js';
import type { Problem } from '../../packages/sessionkeeper/src/core/problem.js';
import { createMemoryStore } from '../../packages/sessionkeeper/src/memory/index.js';
import { send } from './http-client.js';

// Issue 19 item 4: a resource server with no store verifies access tokens with the session
// service's JWKS: fetched, cached, fetched again (once, within the cooldown) for an unknown key.

type ResourceOptions = SessionMiddlewareOptions & {
  accessTokens: NonNullable<SessionMiddlewareOptions['accessTokens']>;
};
type StartResource = (options: ResourceOptions) => Promise<{ url: string; close(): Promise<void> }>;

/** `GET /api/whoami` behind the guard, answering the verified claims. */
const resourceServers: [string, StartResource][] = [
  [
    'express',
    async (options) => {
      const sk = expressAccessTokens(options);
      const app = express();
      app.use(sk);
      app.get('/api/whoami', sk.guard(), (req, res) => {
        res.json({ sub: req.sessionkeeper.claims?.sub, sid: req.sessionkeeper.sessionId });
      });
      const server = app.listen(0, '127.0.0.1');
      await new Promise((resolve) => server.once('listening', resolve));
      return {
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        close: () => new Promise<void>((resolve) => server.close(() => resolve())),
      };
    },
  ],
  [
    'fastify',
    async (options) => {
      const app = Fastify();
      await app.register(sessionPlugin, options);
      app.get('/api/whoami', { preHandler: app.sessionkeeper.guard() }, async (request) => ({
        sub: request.sessionkeeper.claims?.sub,
        sid: request.sessionkeeper.sessionId,
      }));
      const address = await app.listen({ host: '127.0.0.1', port: 0 });
      return { url: new URL(address).origin, close: () => app.close() };
    },
  ],
  [
    'hono',
    async (options) => {
      const sk = honoAccessTokens(options);
      const app = new Hono<SessionkeeperEnv>();
      app.use(sk);
      app.onError(sk.onError);
      app.get('/api/whoami', sk.guard(), (c) =>
        c.json({ sub: c.get('sessionkeeper').claims?.sub, sid: c.get('sessionkeeper').sessionId }),
      );
      const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 });
      await new Promise((resolve) => server.once('listening', resolve));
      return {
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        close: () => new Promise<void>((resolve) => server.close(() => resolve())),
      };
    },
  ],
];

const closing: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closing.splice(0).reverse()) await close();
});

/** The session service in process (it publishes /.well-known/jwks.json), counting JWKS fetches. */
async function issuer(): Promise<{
  engine: SessionEngine;
  clock: ManualClock;
  jwksUrl: string;
  fetches: () => number;
}> {
  const clock = createManualClock();
  const engine = await createSessionEngine({
    store: createMemoryStore(),
    clock,
    background: false,
    logger: pino({ level: 'silent' }),
    tokens: { keyRotationIntervalSeconds: 3600 }, // a successor is published 600 s before it signs
  });
  const app = buildApp(engine, { apiKey: 'jwks-test-api-key-0123456789' });
  let fetches = 0;
  app.addHook('onRequest', async (request) => {
    if (request.url === '/.well-known/jwks.json') fetches++;
  });
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  closing.push(async () => {
    await app.close();
    await engine.close();
  });
  return {
    engine,
    clock,
    jwksUrl: `${new URL(address).origin}/.well-known/jwks.json`,
    fetches: () => fetches,
  };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(resourceServers)('a %s resource server without a store', (_name, start) => {
  it('verifies access tokens with the JWKS, follows a key rotation, refuses what it cannot verify', async () => {
    const { engine, clock, jwksUrl, fetches } = await issuer();
    const resource = await start({
      accessTokens: { jwks: jwksUrl, clock, jwksCooldownSeconds: 1 },
    });
    closing.push(resource.close);
    const whoami = (token?: string) =>
      send(`${resource.url}/api/whoami`, {
        headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      });
    const accessTokenOf = async (subject: string) => {
      const created = await engine.create({ subject, tokens: true });
      return {
        token: created.token,
        accessToken: created.tokens?.accessToken ?? '',
        id: created.session.id,
      };
    };
    const kidOf = (jwt: string) =>
      (JSON.parse(Buffer.from(jwt.split('.')[0] ?? '', 'base64url').toString()) as { kid: string })
        .kid;

    const first = await accessTokenOf('ann');
    const ok = await whoami(first.accessToken);
    expect(ok.status, ok.text).toBe(200);
    expect(ok.json()).toEqual({ sub: 'ann', sid: first.id });
    expect(fetches()).toBe(1);
    expect((await whoami((await accessTokenOf('bob')).accessToken)).status).toBe(200);
    expect(fetches()).toBe(1); // cached

    // Rotation: the successor is made (published 600 s ahead) once it is due, then signs.
    clock.advance(3000);
    const beforeRotation = await accessTokenOf('cy'); // makes the successor; still the old key signs
    clock.advance(601);
    const rotated = await accessTokenOf('dee');
    expect(kidOf(rotated.accessToken)).not.toBe(kidOf(first.accessToken));
    await pause(1100); // past the cooldown since the first fetch
    const afterRotation = await whoami(rotated.accessToken);
    expect(afterRotation.status, afterRotation.text).toBe(200);
    expect(fetches()).toBe(2); // the unknown kid made exactly one fetch
    // A token of the replaced key is still accepted while its key stays published.
    expect(kidOf(beforeRotation.accessToken)).toBe(kidOf(first.accessToken));
    const stillPublished = await whoami(beforeRotation.accessToken);
    expect(stillPublished.status, stillPublished.text).toBe(200);

    // A forged key id: refused, and within the cooldown it fetches nothing more.
    const { privateKey } = generateKeyPairSync('ed25519');
    const forged = await new SignJWT({ sid: rotated.id })
      .setProtectedHeader({ alg: 'EdDSA', kid: 'forged-key' })
      .setSubject('dee')
      .setIssuer('sessionkeeper')
      .setAudience('sessionkeeper')
      .setIssuedAt(Math.floor(clock.now() / 1000))
      .setExpirationTime(Math.floor(clock.now() / 1000) + 600)
      .sign(privateKey);
    for (let i = 0; i < 3; i++) {
      const refused = await whoami(forged);
      expect(refused.status).toBe(401);
      expect(refused.json<Problem>().code).toBe('INVALID_TOKEN');
    }
    expect(fetches()).toBe(2);

    // Expired: refresh (at the service). A session token: this server has no store to check it.
    clock.advance(16 * 60);
    const expired = await whoami(rotated.accessToken);
    expect(expired.status).toBe(401);
    expect(expired.json<Problem>()).toMatchObject({
      code: 'ACCESS_TOKEN_EXPIRED',
      action: 'refresh',
      type: '/problems/access-token-expired',
    });
    const sessionToken = await whoami(rotated.token);
    expect(sessionToken.status).toBe(401);
    expect(sessionToken.json<Problem>().detail).toContain('access tokens only');
    const none = await whoami();
    expect(none.json<Problem>()).toMatchObject({ code: 'UNAUTHORIZED' });
    expect(none.json<Problem>().detail).toContain('access token');
  });

  it('refuses to start without keys, or with options that need a store', async () => {
    await expect(
      start({ accessTokens: { jwks: 'not a url' } }).then((server) => closing.push(server.close)),
    ).rejects.toMatchObject({ field: 'jwks' });
    await expect(
      start({
        accessTokens: { jwks: 'http://127.0.0.1:9/.well-known/jwks.json' },
        holderRoutes: true,
      }).then((server) => closing.push(server.close)),
    ).rejects.toMatchObject({ field: 'holderRoutes' });
    await expect(
      start({
        accessTokens: { jwks: 'http://127.0.0.1:9/.well-known/jwks.json' },
        transports: { cookie: true },
      }).then((server) => closing.push(server.close)),
    ).rejects.toMatchObject({ field: 'transports.cookie' });
  });
});
