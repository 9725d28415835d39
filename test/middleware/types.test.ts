import type { Request } from 'express';
import type { FastifyRequest } from 'fastify';
import { Hono } from 'hono';
import { describe, expectTypeOf, it } from 'vitest';
import type { SessionContext } from '../../packages/express/src/index.js';
import type { SessionPluginOptions } from '../../packages/fastify/src/index.js';
import type { SessionkeeperEnv } from '../../packages/hono/src/index.js';
import type { SessionEngine } from '../../packages/sessionkeeper/src/core/engine.js';
import type { Session } from '../../packages/sessionkeeper/src/core/types.js';

// A type alias, not an interface: session data must be assignable to Record<string, unknown>.
type Cart = { cart: string[] };

// What an app does once to type `req.sessionkeeper` / `request.sessionkeeper` (docs/middleware.md).
declare module '@sessionkeeper/express' {
  interface SessionkeeperRegister {
    data: Cart;
  }
}

describe('public types', () => {
  it('Express: req.sessionkeeper carries the registered data type', () => {
    expectTypeOf<Request['sessionkeeper']>().toEqualTypeOf<SessionContext<Cart>>();
    expectTypeOf<Request['sessionkeeper']['session']>().toEqualTypeOf<Session<Cart> | null>();
  });

  it('Fastify: request.sessionkeeper and request.holdSession', () => {
    expectTypeOf<FastifyRequest['sessionkeeper']>().toEqualTypeOf<SessionContext<Cart>>();
    expectTypeOf<ReturnType<FastifyRequest['holdSession']>>().toEqualTypeOf<Promise<unknown>>();
  });

  it("Hono: c.get('session') is typed by the Env generic", () => {
    const app = new Hono<SessionkeeperEnv<{ plan: 'free' | 'pro' }>>();
    app.get('/', (c) => {
      expectTypeOf(c.get('session')).toEqualTypeOf<Session<{ plan: 'free' | 'pro' }> | null>();
      expectTypeOf(c.get('sessionkeeper').session?.data.plan).toEqualTypeOf<
        'free' | 'pro' | undefined
      >();
      return c.text('ok');
    });
  });

  it('Fastify: the plugin takes an engine, or access-token keys without one', () => {
    expectTypeOf<{ engine: SessionEngine }>().toMatchTypeOf<SessionPluginOptions>();
    expectTypeOf<{ accessTokens: { jwks: string } }>().toMatchTypeOf<SessionPluginOptions>();
    // Neither: no keys to check anything with.
    expectTypeOf<{ holderRoutes: true }>().not.toMatchTypeOf<SessionPluginOptions>();
  });
});
