import { isIP } from 'node:net';
import { ValidationError } from 'sessionkeeper/internal/errors';

/**
 * Which proxies in front of the service are believed about the client's address
 * (`X-Forwarded-For`), which is what the failure rate limit counts by:
 * - `false` (default): none; the client is the peer of the TCP connection.
 * - `true`: every one; the client is the left-most X-Forwarded-For address. Only when nothing but
 *   your proxy can reach the service: otherwise any client can claim any address.
 * - a number n: n hops; the client is the address n entries from the right (1 = one proxy). Only
 *   when every request passes through those n proxies: a client that reaches the service
 *   directly chooses the address it is counted as.
 * - a list of addresses or CIDR ranges (or `loopback`, `linklocal`, `uniquelocal`): the client is
 *   the right-most address that is not one of them.
 */
export type TrustProxy = boolean | number | readonly string[];

const NAMED_RANGES: ReadonlySet<string> = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** True for an IP address, an address/prefix CIDR range, or one of proxy-addr's named ranges. */
export function isProxyAddress(text: string): boolean {
  if (NAMED_RANGES.has(text)) return true;
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const family = isIP(address);
  if (family === 0) return false;
  if (slash === -1) return true;
  const prefix = text.slice(slash + 1);
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/** The value as Fastify's `trustProxy` takes it; a `ValidationError` naming `field` when it is wrong. */
export function checkTrustProxy(value: unknown, field = 'trustProxy'): boolean | number | string[] {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= 1 && value <= 100) return value;
    throw new ValidationError(
      field,
      `a hop count must be a whole number from 1 to 100, got ${value}`,
    );
  }
  if (Array.isArray(value) && value.length > 0) {
    const bad = value.find((item) => typeof item !== 'string' || !isProxyAddress(item));
    if (bad === undefined) return [...(value as string[])];
    throw new ValidationError(
      field,
      `${JSON.stringify(String(bad)).slice(0, 60)} is not an IP address or CIDR range (or loopback, linklocal, uniquelocal)`,
    );
  }
  throw new ValidationError(
    field,
    'must be true, false, a hop count, or a list of proxy addresses or CIDR ranges',
  );
}

/** Parses the flag's text: `true`, `false`, a hop count, or comma-separated addresses/CIDRs. */
export function parseTrustProxy(raw: string, field = 'trustProxy'): boolean | number | string[] {
  const text = raw.trim();
  if (text === 'true') return true;
  if (text === 'false') return false;
  if (/^\d+$/.test(text)) return checkTrustProxy(Number(text), field);
  return checkTrustProxy(
    text
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== ''),
    field,
  );
}

/**
 * The form Fastify's `trustProxy` takes. Fastify 5 no longer honours a bare hop count (it trusts
 * nothing), so a hop count becomes the function proxy-addr calls per hop: trust the nearest n.
 */
export function fastifyTrustProxy(
  value: boolean | number | string[],
): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (typeof value !== 'number') return value;
  return (_address, hop) => hop < value;
}
