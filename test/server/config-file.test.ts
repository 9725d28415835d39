import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../packages/server/src/cli/config-error.js';
import {
  fileKey,
  parseServeArgs,
  SETTINGS,
  type ServeConfig,
} from '../../packages/server/src/cli/serve-config.js';

const dir = mkdtempSync(join(tmpdir(), 'sessionkeeper-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
function file(content: unknown): string {
  const path = join(dir, `config-${++files}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

function config(args: string[], env: NodeJS.ProcessEnv = {}): ServeConfig {
  const parsed = parseServeArgs(args, env);
  if (parsed.help) throw new Error('expected a configuration, got --help');
  return parsed.config;
}

function refusal(args: string[], env: NodeJS.ProcessEnv = {}): string {
  try {
    parseServeArgs(args, env);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('serve config file (--config, SESSIONKEEPER_CONFIG)', () => {
  it('keys every setting by its flag in camelCase, as docs/configuration.md says', () => {
    for (const [key, setting] of Object.entries(SETTINGS)) {
      expect(fileKey(setting.flag)).toBe(key);
    }
  });

  it('reads settings by camelCase name: strings, numbers, booleans and lists', () => {
    const path = file({
      store: 'memory:',
      port: 9090,
      idleTimeout: '1h',
      maxSessionsPerSubject: 3,
      tokenDenylist: true,
      webhook: ['https://a.example/hook', 'https://b.example/hook'],
      webhookSecret: 'a-webhook-secret-long-enough',
      corsOrigin: ['https://app.example'],
      trustProxy: ['10.0.0.0/8', '127.0.0.1'],
    });
    const read = config(['--config', path]);
    expect(read.trustProxy).toEqual(['10.0.0.0/8', '127.0.0.1']);
    expect(config(['--config', file({ trustProxy: 1 })]).trustProxy).toBe(1);
    expect(config(['--config', file({ trustProxy: true })]).trustProxy).toBe(true);
    expect(read.storeSpec.kind).toBe('memory');
    expect(read.port).toBe(9090);
    expect(read.idleTimeoutSeconds).toBe(3600);
    expect(read.maxSessionsPerSubject).toBe(3);
    expect(read.tokens.denylist).toBe(true);
    expect(read.webhooks).toEqual({
      urls: ['https://a.example/hook', 'https://b.example/hook'],
      secret: 'a-webhook-secret-long-enough',
    });
    expect(read.corsOrigins).toEqual(['https://app.example']);
    expect(read.absoluteTimeoutSeconds).toBe(86400); // not in the file: the default
  });

  it('ranks flags over environment over the file over defaults', () => {
    const path = file({ port: 9001, host: '0.0.0.0', idleTimeout: '2h', logLevel: 'debug' });
    const read = config(['--config', path, '--port', '9003'], {
      SESSIONKEEPER_HOST: '127.0.0.2',
      SESSIONKEEPER_PORT: '9002',
    });
    expect(read.port).toBe(9003);
    expect(read.host).toBe('127.0.0.2');
    expect(read.idleTimeoutSeconds).toBe(7200);
    expect(read.logLevel).toBe('debug');
    expect(config([], { SESSIONKEEPER_CONFIG: path }).port).toBe(9001);
  });

  it('names the file and the key of a bad value, and never echoes a secret from it', () => {
    expect(refusal(['--config', file({ idleTimeout: 'soon' })])).toMatch(
      /^invalid "idleTimeout" in .*config-\d+\.json "soon": expected a duration/,
    );
    const secret = refusal(['--config', file({ keyEncryptionSecret: 'hunter2' })]);
    expect(secret).toContain('"keyEncryptionSecret" in');
    expect(secret).not.toContain('hunter2');
  });

  it('refuses an unknown key, a value of the wrong shape, bad JSON and a missing file', () => {
    expect(refusal(['--config', file({ idleTimout: '1h' })])).toContain(
      'unknown setting "idleTimout"',
    );
    expect(refusal(['--config', file({ port: { number: 1 } })])).toContain(
      '"port" must be a string, a number, a boolean or a list of strings',
    );
    expect(refusal(['--config', file('{"port": 80,}')])).toContain('is not valid JSON');
    expect(refusal(['--config', file(['store'])])).toContain('must hold a JSON object');
    expect(refusal(['--config', join(dir, 'absent.json')])).toMatch(/absent\.json does not exist/);
  });
});
