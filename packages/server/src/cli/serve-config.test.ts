import { describe, expect, it } from 'vitest';
import { parseDuration } from './duration.js';
import { parseServeArgs, type ServeConfig } from './serve-config.js';

function config(args: string[], env: NodeJS.ProcessEnv = {}): ServeConfig {
  const parsed = parseServeArgs(args, env);
  if (parsed.help) throw new Error('expected a configuration, got --help');
  return parsed.config;
}

describe('parseDuration', () => {
  it('reads seconds, minutes, hours and days', () => {
    expect(parseDuration('90s')).toBe(90);
    expect(parseDuration('30m')).toBe(1800);
    expect(parseDuration('24h')).toBe(86400);
    expect(parseDuration('7d')).toBe(604800);
    expect(parseDuration('1.5h')).toBe(5400);
    expect(parseDuration('1800')).toBe(1800);
  });

  it('refuses anything else', () => {
    for (const text of ['', 'abc', '0', '0s', '-5m', '5 minutes', '1h30m', '5w', 'Infinity']) {
      expect(parseDuration(text), text).toBeNull();
    }
  });
});

describe('parseServeArgs', () => {
  it('has the documented defaults', () => {
    expect(config([])).toEqual({
      host: '127.0.0.1',
      port: 8080,
      storeSpec: {
        kind: 'sqlite',
        path: './data/sessionkeeper.db',
        location: 'sqlite:./data/sessionkeeper.db',
      },
      idleTimeoutSeconds: 1800,
      absoluteTimeoutSeconds: 86400,
      maxSessionsPerSubject: undefined,
      maxSessions: undefined,
      apiKey: undefined,
      logLevel: 'info',
      tokens: {
        issuer: 'sessionkeeper',
        audience: 'sessionkeeper',
        accessTokenTtlSeconds: 900,
        refreshGraceSeconds: 15,
        denylist: false,
        keyEncryptionSecret: undefined,
      },
      webhooks: undefined,
      eventLeaseSeconds: 30,
      maxEventAttempts: 10,
      metricsRequireApiKey: false,
      rateLimitFailuresPerMinute: 30,
      corsOrigins: [],
      trustProxy: false,
    });
  });

  it('reads --trust-proxy as true/false, a hop count, or proxy addresses and CIDR ranges', () => {
    expect(config(['--trust-proxy', 'true']).trustProxy).toBe(true);
    expect(config(['--trust-proxy', '2']).trustProxy).toBe(2);
    expect(
      config([], { SESSIONKEEPER_TRUST_PROXY: '10.0.0.0/8, 127.0.0.1,::1' }).trustProxy,
    ).toEqual(['10.0.0.0/8', '127.0.0.1', '::1']);
    expect(config(['--trust-proxy', 'loopback,fd00::/8']).trustProxy).toEqual([
      'loopback',
      'fd00::/8',
    ]);
    for (const bad of ['0', 'yes', '10.0.0.0/33', '300.1.1.1', 'proxy.example', ',']) {
      expect(() => config(['--trust-proxy', bad]), bad).toThrow(/^invalid --trust-proxy/);
    }
    expect(() => config([], { SESSIONKEEPER_TRUST_PROXY: '10.0.0.1/x' })).toThrow(
      /^invalid SESSIONKEEPER_TRUST_PROXY "10\.0\.0\.1\/x": .*not an IP address or CIDR range/,
    );
  });

  it('reads the token settings from flags and the environment', () => {
    const secret = 'k'.repeat(40);
    expect(
      config(['--access-token-ttl', '5m', '--token-issuer', 'https://auth.example'], {
        SESSIONKEEPER_REFRESH_GRACE: '2s',
        SESSIONKEEPER_TOKEN_AUDIENCE: 'api',
        SESSIONKEEPER_TOKEN_DENYLIST: 'true',
        SESSIONKEEPER_KEY_ENCRYPTION_SECRET: secret,
      }).tokens,
    ).toEqual({
      issuer: 'https://auth.example',
      audience: 'api',
      accessTokenTtlSeconds: 300,
      refreshGraceSeconds: 2,
      denylist: true,
      keyEncryptionSecret: secret,
    });
  });

  it('names a bad token setting', () => {
    expect(() => config(['--access-token-ttl', '0'])).toThrow(
      'invalid --access-token-ttl "0": expected a duration',
    );
    expect(() => config([], { SESSIONKEEPER_REFRESH_GRACE: 'soon' })).toThrow(
      'invalid SESSIONKEEPER_REFRESH_GRACE "soon"',
    );
    expect(() => config(['--token-denylist', 'yes'])).toThrow(
      'invalid --token-denylist "yes": expected true or false',
    );
    expect(() => config(['--token-issuer', ' '])).toThrow(
      'invalid --token-issuer " ": must not be empty',
    );
    expect(() => config(['--token-audience', 'a\u0000b'])).toThrow(/^invalid --token-audience /);
  });

  it('takes the key-encryption secret from the environment only, and never echoes it', () => {
    expect(() => config([], { SESSIONKEEPER_KEY_ENCRYPTION_SECRET: 'short-s3cret' })).toThrow(
      /^invalid SESSIONKEEPER_KEY_ENCRYPTION_SECRET: expected a secret of at least 32 characters$/,
    );
    const secret = 'k'.repeat(40);
    for (const args of [
      ['--key-encryption-secret', secret],
      [`--key-encryption-secret=${secret}`],
    ]) {
      const error = (() => {
        try {
          config(args);
        } catch (e) {
          return e as Error;
        }
      })();
      expect(error?.message).toBe(
        '--key-encryption-secret is not accepted: set SESSIONKEEPER_KEY_ENCRYPTION_SECRET in the environment instead (a flag shows in ps)',
      );
    }
  });

  it('takes flags over environment over defaults; an empty variable counts as unset', () => {
    const env = {
      SESSIONKEEPER_PORT: '9000',
      SESSIONKEEPER_IDLE_TIMEOUT: '10m',
      SESSIONKEEPER_HOST: '',
    };
    expect(config(['--port', '9100'], env)).toMatchObject({
      port: 9100,
      idleTimeoutSeconds: 600,
      host: '127.0.0.1',
    });
    expect(
      config(['--max-sessions-per-subject=5', '--store', 'memory:'], {
        SESSIONKEEPER_MAX_SESSIONS: '100',
      }),
    ).toMatchObject({
      maxSessionsPerSubject: 5,
      maxSessions: 100,
      storeSpec: { kind: 'memory' },
    });
  });

  it('names the setting and its source in the message', () => {
    expect(() => config(['--idle-timeout', 'abc'])).toThrow(
      'invalid --idle-timeout "abc": expected a duration such as 90s, 30m or 24h',
    );
    expect(() => config([], { SESSIONKEEPER_LOG_LEVEL: 'loud' })).toThrow(
      'invalid SESSIONKEEPER_LOG_LEVEL "loud"',
    );
    expect(() => config(['--idle-timeout', '2h', '--absolute-timeout', '1h'])).toThrow(
      'invalid --absolute-timeout "1h": must not be shorter than the idle timeout (2h)',
    );
    expect(() => config(['--nope'])).toThrow('unknown option --nope');
    expect(() => config(['extra'])).toThrow('unexpected argument "extra"');
  });

  it('never echoes the API key or a store password', () => {
    expect(() => config(['--api-key', ''])).toThrow(/^invalid --api-key: /);
    expect(() => config(['--store', 'redis://:s3cret@host:0'])).toThrow(/redis:\/\/\*\*\*@host:0/);
    expect(() => config(['--store', 'redis://:s3cret@host:0'])).not.toThrow(/s3cret/);
  });

  it('answers --help without reading the other settings', () => {
    expect(parseServeArgs(['--help', '--port', 'nonsense'], {})).toEqual({ help: true });
  });
});

describe('parseServeArgs: webhooks, limits, CORS, metrics, Redis prefix', () => {
  const secret = 'w'.repeat(32);

  it('collects repeated --webhook flags and a comma-separated variable', () => {
    expect(
      config(['--webhook', 'http://a.example/h', '--webhook', 'https://b.example/h'], {
        SESSIONKEEPER_WEBHOOK_SECRET: secret,
      }).webhooks,
    ).toEqual({ urls: ['http://a.example/h', 'https://b.example/h'], secret });
    expect(
      config([], {
        SESSIONKEEPER_WEBHOOK: 'http://a.example/h, http://c.example/h',
        SESSIONKEEPER_WEBHOOK_SECRET: secret,
      }).webhooks?.urls,
    ).toEqual(['http://a.example/h', 'http://c.example/h']);
  });

  it('requires a webhook secret with a webhook, and never echoes one', () => {
    expect(() => config(['--webhook', 'http://a.example/h'])).toThrow(
      /^--webhook is set but SESSIONKEEPER_WEBHOOK_SECRET \(or --webhook-secret\) is not/,
    );
    const short = 'short-s3cret';
    let message = '';
    try {
      config(['--webhook', 'http://a.example/h'], { SESSIONKEEPER_WEBHOOK_SECRET: short });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toBe(
      'invalid SESSIONKEEPER_WEBHOOK_SECRET: expected a secret of at least 16 characters',
    );
    expect(() =>
      config(['--webhook', 'ftp://a.example/h'], { SESSIONKEEPER_WEBHOOK_SECRET: secret }),
    ).toThrow(/^invalid --webhook "ftp:\/\/a\.example\/h": expected http/);
    // A webhook URL's credentials and query are not repeated in messages either.
    expect(() => config(['--webhook', 'http://u:pw@a.example/h?token=t,nope'])).toThrow(
      'invalid --webhook "http://a.example/h,(invalid URL)"',
    );
  });

  it('refuses a link-local (cloud metadata) webhook unless --webhook-allow-link-local is true', () => {
    const metadata = 'http://169.254.169.254/latest/meta-data/?token=t';
    expect(() => config(['--webhook', metadata], { SESSIONKEEPER_WEBHOOK_SECRET: secret })).toThrow(
      'invalid --webhook "http://169.254.169.254/latest/meta-data/": a link-local address (cloud metadata) is refused unless --webhook-allow-link-local is true',
    );
    expect(
      config(['--webhook', metadata, '--webhook-allow-link-local', 'true'], {
        SESSIONKEEPER_WEBHOOK_SECRET: secret,
      }).webhooks,
    ).toEqual({ urls: [metadata], secret, allowLinkLocal: true });
    expect(
      config([], {
        SESSIONKEEPER_WEBHOOK: 'http://[fe80::1]/h',
        SESSIONKEEPER_WEBHOOK_SECRET: secret,
        SESSIONKEEPER_WEBHOOK_ALLOW_LINK_LOCAL: 'true',
      }).webhooks?.allowLinkLocal,
    ).toBe(true);
  });

  it('reads event delivery, rate limit, CORS and metrics settings', () => {
    const parsed = config(
      [
        '--event-lease',
        '5s',
        '--max-event-attempts',
        '20',
        '--rate-limit-failures',
        '0',
        '--cors-origin',
        'https://app.example',
        '--metrics-auth',
        'true',
      ],
      { SESSIONKEEPER_CORS_ORIGIN: 'https://ignored.example' },
    );
    expect(parsed).toMatchObject({
      eventLeaseSeconds: 5,
      maxEventAttempts: 20,
      rateLimitFailuresPerMinute: 0,
      corsOrigins: ['https://app.example'],
      metricsRequireApiKey: true,
    });
    expect(
      config([], { SESSIONKEEPER_CORS_ORIGIN: 'https://a.example,http://localhost:3000' })
        .corsOrigins,
    ).toEqual(['https://a.example', 'http://localhost:3000']);
    expect(() => config(['--cors-origin', 'https://a.example/path'])).toThrow(
      /^invalid --cors-origin "https:\/\/a\.example\/path": expected origins/,
    );
    expect(() => config(['--rate-limit-failures', '-1'])).toThrow(/^invalid --rate-limit-failures/);
  });

  it('applies --redis-key-prefix to a Redis store only', () => {
    expect(
      config(['--store', 'redis://127.0.0.1:6379', '--redis-key-prefix', 'app1:']).storeSpec,
    ).toMatchObject({ kind: 'redis', keyPrefix: 'app1:' });
    expect(() => config(['--redis-key-prefix', 'app1:'])).toThrow(
      '--redis-key-prefix applies only to a Redis store',
    );
    expect(() =>
      config(['--store', 'redis://127.0.0.1:6379', '--redis-key-prefix', 'a{b}']),
    ).toThrow(/^invalid --redis-key-prefix "a\{b\}"/);
  });
});
