import { afterAll, describe, expect, it } from 'vitest';
import { deleteKeys, REDIS_URL, redisAvailable, uniquePrefix } from '../redis/redis-env.js';
import { type CliRun, listeningUrl, runCli } from './cli-process.js';

// In CI redis-env.ts throws when no Redis answers, so this suite cannot be skipped there.
const prefix = uniquePrefix();
const running: CliRun[] = [];

afterAll(async () => {
  for (const run of running) {
    if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGTERM');
    await run.exited;
  }
  if (redisAvailable) await deleteKeys(REDIS_URL, prefix);
});

function serve(): CliRun {
  const run = runCli(
    [
      'serve',
      '--port',
      '0',
      '--log-level',
      'info',
      '--store',
      REDIS_URL,
      '--redis-key-prefix',
      prefix,
    ],
    { SESSIONKEEPER_API_KEY: 'shared-key-0123456789' },
  );
  running.push(run);
  return run;
}

async function call(
  url: string,
  init: { method?: string; token?: string; body?: unknown } = {},
): Promise<Response> {
  const headers: Record<string, string> = {};
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  return fetch(url, {
    method: init.method ?? 'GET',
    headers,
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
}

describe.skipIf(!redisAvailable)('two server processes sharing one Redis', () => {
  it('create on A, validate on B, revoke on B, A refuses at once; refresh on A then B', async () => {
    const [a, b] = await Promise.all([listeningUrl(serve()), listeningUrl(serve())]);
    const key = 'shared-key-0123456789';
    const created = await call(`${a}/v1/sessions`, {
      method: 'POST',
      token: key,
      body: { subject: 'user-1' },
    });
    expect(created.status).toBe(201);
    const first = (await created.json()) as {
      token: string;
      refreshToken: string;
      session: { id: string };
    };

    const onB = await call(`${b}/v1/session/validate`, { method: 'POST', token: first.token });
    expect(onB.status).toBe(200);
    expect(await onB.json()).toMatchObject({ valid: true, session: { id: first.session.id } });

    // The token pair from create refreshes on A; the new pair refreshes on B.
    const refreshedOnA = await call(`${a}/v1/session/refresh`, {
      method: 'POST',
      body: { refreshToken: first.refreshToken },
    });
    expect(refreshedOnA.status).toBe(200);
    const pair = (await refreshedOnA.json()) as { refreshToken: string };
    const refreshedOnB = await call(`${b}/v1/session/refresh`, {
      method: 'POST',
      body: { refreshToken: pair.refreshToken },
    });
    expect(refreshedOnB.status).toBe(200);

    const revoked = await call(`${b}/v1/sessions/${first.session.id}`, {
      method: 'DELETE',
      token: key,
    });
    expect(revoked.status).toBe(204);
    const onA = await call(`${a}/v1/session/validate`, { method: 'POST', token: first.token });
    expect(onA.status).toBe(401);
    expect(await onA.json()).toMatchObject({ code: 'SESSION_REVOKED' });

    // Both count the same store.
    const [statsA, statsB] = await Promise.all([
      call(`${a}/v1/stats`, { token: key }).then((r) => r.json()),
      call(`${b}/v1/stats`, { token: key }).then((r) => r.json()),
    ]);
    expect(statsA).toEqual({ active: 0 });
    expect(statsB).toEqual({ active: 0 });
  });

  it('refresh with the pair from create works on the other instance', async () => {
    const [a, b] = await Promise.all([listeningUrl(serve()), listeningUrl(serve())]);
    const created = await call(`${a}/v1/sessions`, {
      method: 'POST',
      token: 'shared-key-0123456789',
      body: { subject: 'user-2' },
    });
    const { refreshToken } = (await created.json()) as { refreshToken: string };
    const refreshed = await call(`${b}/v1/session/refresh`, {
      method: 'POST',
      body: { refreshToken },
    });
    expect(refreshed.status).toBe(200);
  });
});
