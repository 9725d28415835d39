import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JSONWebKeySet } from 'jose';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createAccessTokenVerifier } from '../../packages/sessionkeeper/src/core/access-token-verifier.js';
import { type CliRun, listeningUrl, parseJson, runCli } from './cli-process.js';

const dir = mkdtempSync(join(tmpdir(), 'sessionkeeper-cli-'));
const running: CliRun[] = [];

function serve(args: string[], env: NodeJS.ProcessEnv = {}): CliRun {
  const run = runCli(['serve', '--port', '0', '--log-level', 'info', ...args], env);
  running.push(run);
  return run;
}

afterEach(async () => {
  for (const run of running.splice(0)) {
    if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
    await run.exited;
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function call(url: string, init: RequestInit & { token?: string } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (init.token) headers.set('authorization', `Bearer ${init.token}`);
  if (typeof init.body === 'string') headers.set('content-type', 'application/json');
  return fetch(url, { ...init, headers });
}

describe('sessionkeeper serve', () => {
  it('keeps sessions across a SIGKILL: create, kill, start again on the same file, validate', async () => {
    const store = `sqlite:${join(dir, 'restart.db')}`;
    const first = serve(['--store', store, '--api-key', 'k']);
    const url = await listeningUrl(first);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const created = await call(`${url}/v1/sessions`, {
      method: 'POST',
      token: 'k',
      body: JSON.stringify({ subject: 'user-1', data: { upload: 'u-7' } }),
    });
    expect(created.status).toBe(201);
    const { token, session } = (await created.json()) as { token: string; session: { id: string } };
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');

    const second = serve(['--store', store, '--api-key', 'k']);
    const url2 = await listeningUrl(second);
    const validated = await call(`${url2}/v1/session/validate`, { method: 'POST', token });
    expect(validated.status).toBe(200);
    expect(await validated.json()).toMatchObject({
      valid: true,
      session: { id: session.id, data: { upload: 'u-7' } },
    });
    const stats = await call(`${url2}/v1/stats`, { token: 'k' });
    expect(await stats.json()).toEqual({ active: 1 });
  });

  it('logs exactly one start-up line with the URL, and stops cleanly on SIGTERM', async () => {
    const run = serve(['--store', `sqlite:${join(dir, 'term.db')}`], {
      SESSIONKEEPER_API_KEY: 'from-env',
    });
    const url = await listeningUrl(run);
    expect((await call(`${url}/v1/stats`, { token: 'from-env' })).status).toBe(200);
    const startLines = run.stdout.filter((line) =>
      String(parseJson(line)?.msg).includes('listening'),
    );
    expect(startLines).toHaveLength(1);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(run.stdout.map((line) => parseJson(line)?.msg)).toContain('stopped');
    expect(run.stdout.join('\n')).not.toContain('from-env');
  });

  it('generates an API key on first start, keeps only its hash, and prints it once', async () => {
    const data = mkdtempSync(join(dir, 'data-'));
    const store = `sqlite:${join(data, 'sessions.db')}`;
    const first = serve(['--store', store]);
    const url = await listeningUrl(first);
    const key = /SESSIONKEEPER_API_KEY=(skk_[A-Za-z0-9_-]{43})/.exec(first.stderr.join('\n'))?.[1];
    expect(key).toBeDefined();
    const hashFile = join(data, 'api-key.sha256');
    expect(readFileSync(hashFile, 'utf8').trim()).toBe(
      createHash('sha256')
        .update(key ?? '')
        .digest('hex'),
    );
    expect(statSync(hashFile).mode & 0o777).toBe(0o600);
    expect(first.stdout.join('\n')).not.toContain(key);
    expect((await call(`${url}/v1/stats`, { token: key })).status).toBe(200);
    first.child.kill('SIGTERM');
    await first.exited;

    const second = serve(['--store', store]);
    const url2 = await listeningUrl(second);
    expect(second.stderr.join('\n')).not.toContain('skk_');
    expect((await call(`${url2}/v1/stats`, { token: key })).status).toBe(200);
    expect((await call(`${url2}/v1/stats`, { token: 'guess' })).status).toBe(401);
  });

  it('refuses to start with exit 2 and one line naming an invalid setting', async () => {
    const cases: [string[], NodeJS.ProcessEnv, string][] = [
      [
        ['--idle-timeout', 'abc'],
        {},
        'invalid --idle-timeout "abc": expected a duration such as 90s, 30m or 24h',
      ],
      [
        ['--absolute-timeout', '10m', '--idle-timeout', '1h'],
        {},
        'invalid --absolute-timeout "10m"',
      ],
      [['--port', '70000'], {}, 'invalid --port "70000"'],
      [['--store', 'postgres://db'], {}, 'invalid --store "postgres://db"'],
      [['--store', 'redis://:hunter2@h:99999'], {}, 'invalid --store "redis://***@h:99999"'],
      [['--max-sessions', '0'], {}, 'invalid --max-sessions "0"'],
      [['--log-level', 'loud'], {}, 'invalid --log-level "loud"'],
      [['--frobnicate'], {}, 'unknown option --frobnicate'],
      [['--config', '/nonexistent/sk.json'], {}, 'config file /nonexistent/sk.json does not exist'],
      [[], { SESSIONKEEPER_IDLE_TIMEOUT: 'soon' }, 'invalid SESSIONKEEPER_IDLE_TIMEOUT "soon"'],
      [
        [],
        { SESSIONKEEPER_MAX_SESSIONS_PER_SUBJECT: '-1' },
        'invalid SESSIONKEEPER_MAX_SESSIONS_PER_SUBJECT "-1"',
      ],
      [
        ['--access-token-ttl', '15 minutes'],
        {},
        'invalid --access-token-ttl "15 minutes": expected a duration',
      ],
      [[], { SESSIONKEEPER_ACCESS_TOKEN_TTL: '0' }, 'invalid SESSIONKEEPER_ACCESS_TOKEN_TTL "0"'],
      [['--refresh-grace=-1s'], {}, 'invalid --refresh-grace "-1s"'],
      [['--refresh-grace', '-1s'], {}, 'invalid --refresh-grace: give a value that starts with -'],
      [['--token-denylist', 'maybe'], {}, 'invalid --token-denylist "maybe"'],
      [['--token-issuer', ''], {}, 'invalid --token-issuer'],
      [
        [],
        { SESSIONKEEPER_KEY_ENCRYPTION_SECRET: 'hunter2' },
        'invalid SESSIONKEEPER_KEY_ENCRYPTION_SECRET: expected a secret of at least 32 characters',
      ],
      [
        ['--key-encryption-secret', `hunter2${'x'.repeat(40)}`],
        {},
        '--key-encryption-secret is not accepted: set SESSIONKEEPER_KEY_ENCRYPTION_SECRET',
      ],
    ];
    await Promise.all(
      cases.map(async ([args, env, message]) => {
        const run = serve(['--store', 'memory:', '--api-key', 'k', ...args], env);
        expect(await run.exited, args.join(' ')).toBe(2);
        expect(run.stderr.filter((line) => line !== '')).toEqual([
          expect.stringContaining(message),
        ]);
        expect(run.stderr.join('\n')).not.toContain('hunter2');
      }),
    );
    // 19 processes each load the CLI through tsx (about 1.5 s of CPU apiece): on two busy cores
    // that alone can take longer than the project's 30 s default.
  }, 120_000);

  it('--access-token-ttl 3s answers accessTokenExpiresIn 3 (not 2), and the token stops verifying soon after', async () => {
    const store = `sqlite:${join(dir, 'short-ttl.db')}`;
    const run = serve(['--store', store, '--api-key', 'k', '--access-token-ttl', '3s']);
    const url = await listeningUrl(run);
    const lifetimes: number[] = [];
    let accessToken = '';
    // A few sessions, so some are created mid-second (where rounding down lost a second).
    for (let i = 0; i < 5; i++) {
      const created = await call(`${url}/v1/sessions`, {
        method: 'POST',
        token: 'k',
        body: JSON.stringify({ subject: 'user-1' }),
      });
      const pair = (await created.json()) as { accessToken: string; accessTokenExpiresIn: number };
      lifetimes.push(pair.accessTokenExpiresIn);
      accessToken = pair.accessToken;
      await new Promise((resolve) => setTimeout(resolve, 230));
    }
    expect(lifetimes).toEqual([3, 3, 3, 3, 3]);
    // The 30 s default tolerance is capped at a tenth of the 3 s lifetime: 5 s later it is expired.
    const jwks = (await (await call(`${url}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
    const verifier = createAccessTokenVerifier({ jwks });
    expect((await verifier.verify(accessToken)).ok).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 5000));
    const late = await verifier.verify(accessToken);
    expect(!late.ok && late.error.code).toBe('ACCESS_TOKEN_EXPIRED');
  });

  it('keeps refresh tokens and signing keys across a SIGKILL, and refuses a wrong key-encryption secret', async () => {
    const store = `sqlite:${join(dir, 'tokens.db')}`;
    const secret = {
      SESSIONKEEPER_KEY_ENCRYPTION_SECRET: 'correct horse battery staple 0123456789',
    };
    const first = serve(['--store', store, '--api-key', 'k', '--access-token-ttl', '5m'], secret);
    const url = await listeningUrl(first);
    const created = await call(`${url}/v1/sessions`, {
      method: 'POST',
      token: 'k',
      body: JSON.stringify({ subject: 'user-1' }),
    });
    expect(created.status).toBe(201);
    const pair = (await created.json()) as {
      accessToken: string;
      accessTokenExpiresIn: number;
      refreshToken: string;
    };
    expect(pair.accessTokenExpiresIn).toBeGreaterThan(290);
    expect(pair.accessTokenExpiresIn).toBeLessThanOrEqual(300);
    first.child.kill('SIGKILL');
    await first.exited;

    // Another secret, or none, cannot open the stored keys: exit 2 naming the variable, no value.
    const wrong = serve(['--store', store, '--api-key', 'k'], {
      SESSIONKEEPER_KEY_ENCRYPTION_SECRET: 'a different secret of enough length 0123',
    });
    expect(await wrong.exited).toBe(2);
    expect(wrong.stderr.filter((line) => line !== '')).toEqual([
      expect.stringMatching(/^sessionkeeper: invalid SESSIONKEEPER_KEY_ENCRYPTION_SECRET: /),
    ]);
    expect(wrong.stderr.join('\n')).not.toContain('different secret');
    const missing = serve(['--store', store, '--api-key', 'k']);
    expect(await missing.exited).toBe(2);
    expect(missing.stderr.join('\n')).toContain('SESSIONKEEPER_KEY_ENCRYPTION_SECRET is not set');

    // The right secret: the old access token still verifies (same keys), the refresh token works.
    const second = serve(['--store', store, '--api-key', 'k'], secret);
    const url2 = await listeningUrl(second);
    const jwks = await call(`${url2}/.well-known/jwks.json`);
    expect(jwks.headers.get('cache-control')).toBe('public, max-age=300');
    const verified = await createAccessTokenVerifier({
      jwks: (await jwks.json()) as JSONWebKeySet,
    }).verify(pair.accessToken);
    expect(verified.ok).toBe(true);
    const refreshed = await call(`${url2}/v1/session/refresh`, {
      method: 'POST',
      body: JSON.stringify({ refreshToken: pair.refreshToken }),
    });
    expect(refreshed.status).toBe(200);
    expect(refreshed.headers.get('cache-control')).toBe('no-store');
    expect(second.stdout.join('\n')).not.toContain(secret.SESSIONKEEPER_KEY_ENCRYPTION_SECRET);
  });

  it('prefers a flag over the environment', async () => {
    const run = serve(['--store', 'memory:', '--api-key', 'k', '--idle-timeout', '90s'], {
      SESSIONKEEPER_IDLE_TIMEOUT: 'bad',
    });
    const url = await listeningUrl(run);
    const created = await call(`${url}/v1/sessions`, {
      method: 'POST',
      token: 'k',
      body: JSON.stringify({ subject: 'u' }),
    });
    expect(
      ((await created.json()) as { session: { idleTimeout: number } }).session.idleTimeout,
    ).toBe(90);
  });

  it('refuses to start with exit 1 naming a store it cannot open', async () => {
    const notADir = join(dir, 'plain-file');
    writeFileSync(notADir, 'x');
    const run = serve(['--store', `sqlite:${join(notADir, 'x.db')}`, '--api-key', 'k']);
    expect(await run.exited).toBe(1);
    expect(run.stderr.join('\n')).toContain(
      `cannot open the store sqlite:${join(notADir, 'x.db')}`,
    );
    const redis = serve(['--store', 'redis://127.0.0.1:1', '--api-key', 'k']);
    expect(await redis.exited).toBe(1);
    expect(redis.stderr.join('\n')).toContain('cannot open the store redis://127.0.0.1:1');
  });

  it('documents every setting in --help and exits 0', async () => {
    const run = runCli(['serve', '--help']);
    running.push(run);
    expect(await run.exited).toBe(0);
    const help = run.stdout.join('\n');
    for (const flag of [
      'host',
      'port',
      'store',
      'idle-timeout',
      'absolute-timeout',
      'max-sessions-per-subject',
      'max-sessions',
      'api-key',
      'log-level',
      'access-token-ttl',
      'refresh-grace',
      'token-issuer',
      'token-audience',
      'token-denylist',
    ]) {
      expect(help).toContain(`--${flag} <value>`);
      expect(help).toContain(`SESSIONKEEPER_${flag.toUpperCase().replace(/-/g, '_')}`);
    }
    // Where TTLs are set, the help says how long expired tokens are still accepted.
    expect(help).toContain('capped at a tenth of its lifetime');
    // The key-encryption secret is a variable only: a flag would show in ps.
    expect(help).toContain('SESSIONKEEPER_KEY_ENCRYPTION_SECRET=<value>');
    expect(help).not.toContain('--key-encryption-secret');
    const top = runCli(['--help']);
    running.push(top);
    expect(await top.exited).toBe(0);
    expect(top.stdout.join('\n')).toContain('serve');
  });
});
