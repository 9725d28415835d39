import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { type SessionkeeperEnv, sessionMiddleware } from '../../packages/hono/src/index.js';
import type { AppSetup, LoginBody, RunningApp, SessionJson } from './app-contract.js';

export async function startHonoApp({
  engine,
  files,
  options,
  pages,
}: AppSetup): Promise<RunningApp> {
  const sk = sessionMiddleware(engine, options);
  sk.onSessionEnded(files.cleanup);
  const app = new Hono<SessionkeeperEnv>();
  app.use(sk);
  app.onError(sk.onError);
  for (const [path, [type, body]] of Object.entries(pages ?? {}))
    app.get(path, (c) => c.body(body(), 200, { 'content-type': type }));

  app.post('/login', async (c) => {
    const body = await c.req.json<LoginBody>();
    const created = await c
      .get('sessionkeeper')
      .login(
        { subject: body.subject as string, tokens: body.tokens === true },
        body.cookie === undefined ? {} : { cookie: body.cookie },
      );
    return c.json({
      sessionId: created.session.id,
      token: created.token,
      accessToken: created.tokens?.accessToken,
      refreshToken: created.tokens?.refreshToken,
      accessTokenExpiresIn: created.tokens?.accessTokenExpiresIn,
      refreshTokenExpiresIn: created.tokens?.refreshTokenExpiresIn,
    });
  });

  app.post('/logout', async (c) => c.json({ revoked: await c.get('sessionkeeper').logout() }));

  app.get('/public', (c) => c.json({ subject: c.get('session')?.subject ?? null }));

  app.get('/api/session', sk.guard(), (c) => {
    const ctx = c.get('sessionkeeper');
    const body: SessionJson = {
      subject: ctx.subject,
      sessionId: ctx.sessionId,
      via: ctx.via,
      idleRemainingSeconds: ctx.timing?.idleRemainingSeconds ?? null,
      csrfToken: ctx.csrfToken,
    };
    return c.json(body);
  });

  app.put('/api/upload', sk.guard(), async (c) => {
    const body = new Uint8Array(await c.req.arrayBuffer());
    const bytes = await files.saveUpload(c.get('sessionkeeper').sessionId as string, body);
    return c.json({ bytes }, 201);
  });

  // sk.hold(): the session stays alive while the handler runs, however long.
  app.post('/api/process', sk.guard(), sk.hold(), async (c) => {
    return c.json({ bytes: await files.process(c.get('sessionkeeper').sessionId as string) });
  });

  app.get('/api/download', sk.guard(), async (c) => {
    const result = await files.readResult(c.get('sessionkeeper').sessionId as string);
    if (result === null) return c.json({ error: 'nothing processed yet' }, 404);
    return c.text(result);
  });

  app.get('/page', sk.guard({ loginPath: '/login-page' }), (c) => c.html('<p>signed in</p>'));

  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const started = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () =>
      resolve(started),
    );
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      if ('closeAllConnections' in server) server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
