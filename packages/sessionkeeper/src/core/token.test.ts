import { describe, expect, it } from 'vitest';
import {
  formatSessionToken,
  generateSecret,
  generateSessionId,
  hashSecret,
  isValidSessionId,
  parseSessionToken,
  secretMatches,
} from './token.js';

describe('session tokens', () => {
  it('carry a scanner-findable prefix, the public id and a 256-bit secret', () => {
    const id = generateSessionId();
    const secret = generateSecret();
    const token = formatSessionToken(id, secret);
    expect(token.startsWith('sks_')).toBe(true);
    expect(Buffer.from(secret, 'base64url')).toHaveLength(32);
    expect(parseSessionToken(token)).toEqual({ ok: true, id, secret });
    expect(isValidSessionId(id)).toBe(true);
  });

  it('never repeat', () => {
    const secrets = new Set(Array.from({ length: 1000 }, generateSecret));
    expect(secrets.size).toBe(1000);
  });

  it('say what is wrong with a bad token without echoing it', () => {
    const token = formatSessionToken(generateSessionId(), generateSecret());
    for (const bad of [
      undefined,
      '',
      'sks_',
      'abc',
      token.slice(0, -1),
      `${token}x`,
      token.replace('.', ''),
      `x${token}`,
    ]) {
      const parsed = parseSessionToken(bad);
      expect(parsed.ok, String(bad)).toBe(false);
      if (!parsed.ok && typeof bad === 'string' && bad.length > 10)
        expect(parsed.problem).not.toContain(bad.slice(-20));
    }
  });

  it('match a secret only against its own hash', () => {
    const secret = generateSecret();
    const hash = hashSecret(secret);
    expect(hash).not.toContain(secret);
    expect(secretMatches(secret, hash)).toBe(true);
    expect(secretMatches(generateSecret(), hash)).toBe(false);
    expect(secretMatches(secret, hash.slice(1))).toBe(false);
  });
});
