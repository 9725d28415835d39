import type { AddressInfo } from 'node:net';
import express from 'express';
import { sessionMiddleware } from '../../packages/express/src/index.js';
import type { AppSetup, LoginBody, RunningApp, SessionJson } from './app-contract.js';

export async function startExpressApp({
  engine,
  files,
  options,
  pages,
}: AppSetup): Promise<RunningApp> {
  const sk = sessionMiddleware(engine, options);
  sk.onSessionEnded(files.cleanup);
  const app = express();
  app.use(sk);

  app.post('/login', express.json(), async (req, res) => {
    const body = req.body as LoginBody;
    const created = await req.sessionkeeper.login(
      { subject: body.subject as string, tokens: body.tokens === true },
      body.cookie === undefined ? {} : { cookie: body.cookie },
    );
    res.json({
      sessionId: created.session.id,
      token: created.token,
      accessToken: created.tokens?.accessToken,
      refreshToken: created.tokens?.refreshToken,
      accessTokenExpiresIn: created.tokens?.accessTokenExpiresIn,
      refreshTokenExpiresIn: created.tokens?.refreshTokenExpiresIn,
    });
  });

  app.post('/logout', async (req, res) => {
    res.json({ revoked: await req.sessionkeeper.logout() });
  });

  app.get('/public', (req, res) => {
    res.json({ subject: req.sessionkeeper.subject });
  });

  app.get('/api/session', sk.guard(), (req, res) => {
    const ctx = sk.context(req);
    const body: SessionJson = {
      subject: ctx.subject,
      sessionId: ctx.sessionId,
      via: ctx.via,
      idleRemainingSeconds: ctx.timing?.idleRemainingSeconds ?? null,
      csrfToken: ctx.csrfToken,
    };
    res.json(body);
  });

  app.put(
    '/api/upload',
    sk.guard(),
    express.raw({ type: () => true, limit: '1mb' }),
    async (req, res) => {
      const bytes = await files.saveUpload(sk.context(req).sessionId as string, req.body as Buffer);
      res.status(201).json({ bytes });
    },
  );

  // sk.hold(): the session stays alive until this response is sent, however long processing takes.
  app.post('/api/process', sk.guard(), sk.hold(), async (req, res) => {
    res.json({ bytes: await files.process(sk.context(req).sessionId as string) });
  });

  app.get('/api/download', sk.guard(), async (req, res) => {
    const result = await files.readResult(sk.context(req).sessionId as string);
    if (result === null) res.status(404).json({ error: 'nothing processed yet' });
    else res.type('text/plain').send(result);
  });

  app.get('/page', sk.guard({ loginPath: '/login-page' }), (_req, res) => {
    res.type('html').send('<p>signed in</p>');
  });

  for (const [path, [type, body]] of Object.entries(pages ?? {}))
    app.get(path, (_req, res) => {
      res.type(type).send(body());
    });

  app.use(sk.errorHandler);

  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
