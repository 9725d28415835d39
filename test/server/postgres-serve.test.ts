import { afterAll, describe, expect, it } from 'vitest';
import { dropSchemas, postgresAvailable, uniqueSchema } from '../postgres/postgres-env.js';
import { type CliRun, listeningUrl, runCli } from './cli-process.js';

// In CI postgres-env.ts throws when no PostgreSQL answers, so this suite cannot be skipped there.
const schema = uniqueSchema();
const running: CliRun[] = [];
// Trust authentication ignores the password; it is here to show it is never printed.
const PASSWORD = 'never-printed-pw';
const STORE_URL = `postgres://postgres:${PASSWORD}@127.0.0.1:5432/test`;
const KEY = 'postgres-key-0123456789';

afterAll(async () => {
  for (const run of running) {
    if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGTERM');
    await run.exited;
  }
  if (postgresAvailable) await dropSchemas([schema]);
});

function serve(schemaBy: 'flag' | 'env'): CliRun {
  const run = runCli(
    [
      'serve',
      '--port',
      '0',
      '--log-level',
      'info',
      '--store',
      STORE_URL,
      ...(schemaBy === 'flag' ? ['--postgres-schema', schema] : []),
    ],
    {
      SESSIONKEEPER_API_KEY: KEY,
      ...(schemaBy === 'env' ? { SESSIONKEEPER_POSTGRES_SCHEMA: schema } : {}),
    },
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

describe.skipIf(!postgresAvailable)('the service on PostgreSQL', () => {
  it('two processes on one schema: ready, create on A, validate and revoke on B; the password is never printed', async () => {
    const [a, b] = await Promise.all([listeningUrl(serve('flag')), listeningUrl(serve('env'))]);
    expect((await call(`${a}/readyz`)).status).toBe(200);
    expect((await call(`${b}/readyz`)).status).toBe(200);

    const created = await call(`${a}/v1/sessions`, {
      method: 'POST',
      token: KEY,
      body: { subject: 'user-1', data: { plan: 'pro' } },
    });
    expect(created.status).toBe(201);
    const { token, refreshToken, session } = (await created.json()) as {
      token: string;
      refreshToken: string;
      session: { id: string };
    };
    const onB = await call(`${b}/v1/session/validate`, { method: 'POST', token });
    expect(onB.status).toBe(200);
    expect(await onB.json()).toMatchObject({
      valid: true,
      session: { id: session.id, data: { plan: 'pro' } },
    });
    const refreshed = await call(`${b}/v1/session/refresh`, {
      method: 'POST',
      body: { refreshToken },
    });
    expect(refreshed.status).toBe(200);
    const revoked = await call(`${b}/v1/sessions/${session.id}`, { method: 'DELETE', token: KEY });
    expect(revoked.status).toBeLessThan(300);
    const onA = await call(`${a}/v1/session/validate`, { method: 'POST', token });
    expect(onA.status).toBe(401);

    const output = running.flatMap((run) => [...run.stdout, ...run.stderr]).join('\n');
    expect(output).toContain('postgres://postgres@127.0.0.1:5432/test');
    expect(output).not.toContain(PASSWORD);
  });

  it('refuses --postgres-schema with another store, naming the setting', async () => {
    const run = runCli(['serve', '--port', '0', '--store', 'memory:', '--postgres-schema', 'x']);
    running.push(run);
    expect(await run.exited).toBe(2);
    expect(run.stderr.join('\n')).toMatch(/--postgres-schema applies only to a PostgreSQL store/);
  });
});
