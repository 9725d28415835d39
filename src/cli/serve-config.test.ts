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
    });
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
