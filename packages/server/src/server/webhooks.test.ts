import type { LookupAddress } from 'node:dns';
import { ValidationError } from 'sessionkeeper/internal/errors';
import { describe, expect, it } from 'vitest';
import {
  checkWebhookOptions,
  checkWebhookTargets,
  isLinkLocalHost,
  LinkLocalRefusedError,
  refusingLinkLocal,
} from './webhooks.js';

const secret = 'webhook-secret-0123456789';

describe('link-local webhook targets (cloud metadata)', () => {
  it('knows link-local IP literals in every spelling a URL or resolver gives', () => {
    for (const host of [
      '169.254.169.254',
      '169.254.0.1',
      '[fe80::1]',
      'fe80::1',
      'FEBF::1',
      '::ffff:169.254.169.254',
      '[::ffff:a9fe:a9fe]',
      '0:0:0:0:0:ffff:a9fe:1',
      new URL('http://[::ffff:169.254.169.254]/').hostname,
      new URL('http://2852039166/').hostname, // decimal, as WHATWG URLs normalize it
      new URL('http://0xa9.0xfe.0xa9.0xfe/').hostname,
    ]) {
      expect(isLinkLocalHost(host), host).toBe(true);
    }
    for (const host of [
      '127.0.0.1',
      '169.255.0.1',
      '10.169.254.1',
      'fec0::1',
      '::1',
      '::ffff:127.0.0.1',
      'metadata.google.internal',
      '169.254.example.com',
    ]) {
      expect(isLinkLocalHost(host), host).toBe(false);
    }
  });

  it('refuses a link-local URL unless allowLinkLocal is set, naming webhooks.urls', () => {
    const options = { urls: ['http://169.254.169.254/latest/meta-data/?x=secret'], secret };
    expect(() => checkWebhookOptions(options)).toThrow(ValidationError);
    expect(() => checkWebhookOptions(options)).toThrow(/^webhooks\.urls: .*link-local/);
    expect(() => checkWebhookOptions(options)).not.toThrow(/secret/);
    expect(() => checkWebhookOptions({ ...options, allowLinkLocal: true })).not.toThrow();
    expect(() => checkWebhookOptions({ urls: ['http://[fe80::1]:8080/h'], secret })).toThrow(
      /link-local/,
    );
  });

  it('refuses a host name whose answer holds a link-local address, when connecting', async () => {
    const answers: Record<string, LookupAddress[]> = {
      'rebound.example': [
        { address: '10.0.0.7', family: 4 },
        { address: '169.254.169.254', family: 4 },
      ],
      'fine.example': [{ address: '127.0.0.1', family: 4 }],
    };
    const lookup = refusingLinkLocal((hostname, _options, callback) =>
      callback(null, answers[hostname] ?? []),
    );
    const resolve = (hostname: string, all: boolean) =>
      new Promise<{ error: Error | null; address: unknown; family?: number }>((done) =>
        lookup(hostname, { all }, (error, address, family) => done({ error, address, family })),
      );
    const refused = await resolve('rebound.example', false);
    expect(refused.error).toBeInstanceOf(LinkLocalRefusedError);
    expect(refused.error?.message).toMatch(
      /rebound\.example resolves to the link-local address 169\.254\.169\.254.*--webhook-allow-link-local/,
    );
    expect(await resolve('fine.example', false)).toEqual({
      error: null,
      address: '127.0.0.1',
      family: 4,
    });
    expect((await resolve('fine.example', true)).address).toEqual(answers['fine.example']);
    expect((await resolve('nowhere.example', false)).error).toMatchObject({ code: 'ENOTFOUND' });
  });

  it('refuses at start-up a host name that resolves to a link-local address', async () => {
    const answers: Record<string, LookupAddress[]> = {
      'metadata.example': [{ address: '169.254.169.254', family: 4 }],
      'fine.example': [{ address: '127.0.0.1', family: 4 }],
    };
    const resolver = (
      hostname: string,
      _options: unknown,
      callback: (error: NodeJS.ErrnoException | null, found: LookupAddress[]) => void,
    ) => {
      const found = answers[hostname];
      if (found) callback(null, found);
      else callback(Object.assign(new Error('not found'), { code: 'ENOTFOUND' }), []);
    };
    const options = (...urls: string[]) => ({ urls, secret });
    await expect(
      checkWebhookTargets(
        options('http://fine.example/h', 'http://metadata.example/h?k=s'),
        resolver,
      ),
    ).rejects.toThrow(
      'webhooks.urls: http://metadata.example/h resolves to the link-local address 169.254.169.254 (cloud metadata), refused unless allowLinkLocal is set',
    );
    // Allowed explicitly; a name that does not resolve yet is checked again at each connection.
    await expect(
      checkWebhookTargets(
        { ...options('http://metadata.example/h'), allowLinkLocal: true },
        resolver,
      ),
    ).resolves.toBeUndefined();
    await expect(
      checkWebhookTargets(options('http://fine.example/h', 'http://later.example/h'), resolver),
    ).resolves.toBeUndefined();
  });
});
