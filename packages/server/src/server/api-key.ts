import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Prefix of generated API keys, so secret scanners can recognise a leaked one. */
export const API_KEY_PREFIX = 'skk_';

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** A new API key: 256 bits from the OS CSPRNG, base64url, with the `skk_` prefix. */
export function generateApiKey(): string {
  return `${API_KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
}

/** The SHA-256 of a key, as 64 lowercase hex characters: the only form the server keeps. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export function isApiKeyHash(value: string): boolean {
  return SHA256_HEX.test(value);
}

/**
 * Compares a presented key with the stored hash in constant time. Both sides are 32-byte digests,
 * so neither the content nor the length of the presented key shows in the timing.
 */
export function apiKeyMatches(presented: string, storedHashHex: string): boolean {
  const presentedDigest = createHash('sha256').update(presented, 'utf8').digest();
  const storedDigest = Buffer.from(storedHashHex, 'hex');
  return (
    storedDigest.length === presentedDigest.length && timingSafeEqual(presentedDigest, storedDigest)
  );
}
