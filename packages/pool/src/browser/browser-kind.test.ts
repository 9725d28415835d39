import { ValidationError } from 'sessionkeeper/internal/errors';
import { describe, expect, it } from 'vitest';
import { type BrowserSessionKindOptions, browserSessionKind } from './browser-kind.js';

const valid: BrowserSessionKindOptions = {
  login: async () => {},
  probeUrl: 'https://upstream.example/account',
};

function fieldOf(options: BrowserSessionKindOptions): string | undefined {
  try {
    browserSessionKind(options);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).field;
  }
}

describe('browserSessionKind options', () => {
  it('is a one-operation-at-a-time kind that starts no browser until a session is made', async () => {
    const kind = browserSessionKind(valid);
    expect(kind.name).toBe('browser');
    expect(kind.concurrency).toBe(1);
    expect(kind.stats()).toEqual({ browsersStarted: 0, browsersOpen: 0, contextsOpen: 0 });
    await kind.close();
  });

  it('names the option that is wrong', () => {
    const login = undefined as unknown as BrowserSessionKindOptions['login'];
    expect(fieldOf({ ...valid, login })).toBe('login');
    expect(fieldOf({ ...valid, probeUrl: '/account' })).toBe('probeUrl');
    expect(fieldOf({ ...valid, refreshUrl: 'not a url' })).toBe('refreshUrl');
    expect(fieldOf({ ...valid, timeoutSeconds: 0 })).toBe('timeoutSeconds');
    expect(fieldOf({ ...valid, browserMaxAgeSeconds: -1 })).toBe('browserMaxAgeSeconds');
    expect(fieldOf({ ...valid, browserMaxContexts: 1.5 })).toBe('browserMaxContexts');
    expect(
      fieldOf({ ...valid, refreshUrl: 'https://upstream.example/keep-alive' }),
    ).toBeUndefined();
  });

  it('refuses a session it did not make', async () => {
    const kind = browserSessionKind(valid);
    const ctx = { key: 'k', signal: new AbortController().signal, observe: async () => {} };
    const stranger = {} as Parameters<typeof kind.probe>[0];
    await expect(kind.probe(stranger, ctx)).rejects.toBeInstanceOf(ValidationError);
  });
});
