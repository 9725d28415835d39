import Fastify from 'fastify';
import { sessionPlugin } from '../../packages/fastify/src/index.js';
import type { AppSetup, LoginBody, RunningApp, SessionJson } from './app-contract.js';

export async function startFastifyApp({
  engine,
  files,
  options,
  pages,
}: AppSetup): Promise<RunningApp> {
  const app = Fastify();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  await app.register(sessionPlugin, { engine, ...options });
  app.sessionkeeper.onSessionEnded(files.cleanup);
  const guard = app.sessionkeeper.guard();
  for (const [path, [type, body]] of Object.entries(pages ?? {}))
    app.get(path, async (_request, reply) => reply.type(type).send(body()));

  app.post('/login', async (request) => {
    const body = request.body as LoginBody;
    const created = await request.sessionkeeper.login(
      { subject: body.subject as string, tokens: body.tokens === true },
      body.cookie === undefined ? {} : { cookie: body.cookie },
    );
    return {
      sessionId: created.session.id,
      token: created.token,
      accessToken: created.tokens?.accessToken,
      refreshToken: created.tokens?.refreshToken,
      accessTokenExpiresIn: created.tokens?.accessTokenExpiresIn,
      refreshTokenExpiresIn: created.tokens?.refreshTokenExpiresIn,
    };
  });

  app.post('/logout', async (request) => ({ revoked: await request.sessionkeeper.logout() }));

  app.get('/public', async (request) => ({ subject: request.sessionkeeper.subject }));

  app.get('/api/session', { preHandler: guard }, async (request): Promise<SessionJson> => {
    const ctx = request.sessionkeeper;
    return {
      subject: ctx.subject,
      sessionId: ctx.sessionId,
      via: ctx.via,
      idleRemainingSeconds: ctx.timing?.idleRemainingSeconds ?? null,
      csrfToken: ctx.csrfToken,
    };
  });

  app.put('/api/upload', { preHandler: guard }, async (request, reply) => {
    const bytes = await files.saveUpload(
      request.sessionkeeper.sessionId as string,
      request.body as Buffer,
    );
    return reply.code(201).send({ bytes });
  });

  // request.holdSession(work): the session stays alive while the work runs, however long.
  app.post('/api/process', { preHandler: guard }, async (request) => {
    const sessionId = request.sessionkeeper.sessionId as string;
    return { bytes: await request.holdSession((signal) => files.process(sessionId, signal)) };
  });

  app.get('/api/download', { preHandler: guard }, async (request, reply) => {
    const result = await files.readResult(request.sessionkeeper.sessionId as string);
    if (result === null) return reply.code(404).send({ error: 'nothing processed yet' });
    return reply.type('text/plain').send(result);
  });

  app.get(
    '/page',
    { preHandler: app.sessionkeeper.guard({ loginPath: '/login-page' }) },
    async (_request, reply) => reply.type('text/html').send('<p>signed in</p>'),
  );

  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: async () => {
      await app.close();
    },
  };
}
