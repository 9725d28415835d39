import { describe, expect, it } from 'vitest';
import { bearerToken, readCredential } from './credential.js';

const both = { bearer: true, cookie: true };
const jwt = 'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1In0.c2ln';

describe('readCredential', () => {
  it('prefers the Bearer header, tells session tokens from access tokens', () => {
    expect(readCredential('Bearer sks_abcdefgh.secret', () => 'sks_cookie', both)).toEqual({
      kind: 'session-token',
      token: 'sks_abcdefgh.secret',
      via: 'bearer',
    });
    expect(readCredential(`bearer ${jwt}`, () => undefined, both)).toEqual({
      kind: 'access-token',
      token: jwt,
    });
    // sks_ tokens have one dot; a sks_ value with three parts is still a session token (and malformed).
    expect(readCredential('Bearer sks_a.b.c', () => undefined, both)?.kind).toBe('session-token');
  });

  it('falls back to the cookie; other schemes and disabled transports are ignored', () => {
    expect(readCredential('Basic dXNlcjpwYXNz', () => 'sks_x.y', both)).toMatchObject({
      via: 'cookie',
    });
    expect(
      readCredential('Bearer sks_x.y', () => 'sks_c.d', { bearer: false, cookie: true }),
    ).toMatchObject({
      token: 'sks_c.d',
    });
    expect(readCredential(undefined, () => 'sks_x.y', { bearer: true, cookie: false })).toBeNull();
    expect(readCredential(undefined, () => '', both)).toBeNull();
  });

  it('bearerToken parses the scheme case-insensitively and keeps an empty value', () => {
    expect(bearerToken('  BEARER   tok  ')).toBe('tok');
    expect(bearerToken('Bearer')).toBe('');
    expect(bearerToken('Bearertok')).toBeUndefined();
    expect(bearerToken('Token tok')).toBeUndefined();
  });
});
