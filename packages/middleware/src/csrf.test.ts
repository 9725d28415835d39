import { describe, expect, it } from 'vitest';
import { CookiePolicy } from './cookies.js';
import { checkCsrf, csrfTokenFor } from './csrf.js';
import { type CsrfOptions, resolveMiddlewareOptions } from './options.js';
import type { RequestLike } from './request.js';

function check(
  method: string,
  headers: Record<string, string>,
  csrf: CsrfOptions = {},
  token: string | null = 'sks_t.s',
) {
  const options = resolveMiddlewareOptions({ csrf });
  if (options.csrf === false) throw new Error('csrf is on');
  const request: RequestLike = {
    method,
    url: '/x',
    https: true,
    header: (name) => ({ host: 'app.example.com', ...headers })[name],
  };
  return checkCsrf(request, options.csrf, new CookiePolicy(options), token);
}

describe('CSRF check', () => {
  it('lets safe methods, same-origin requests and non-browsers through', () => {
    expect(check('GET', { 'sec-fetch-site': 'cross-site' })).toBeNull();
    expect(check('POST', { 'sec-fetch-site': 'same-origin' })).toBeNull();
    expect(check('POST', { 'sec-fetch-site': 'none' })).toBeNull();
    expect(check('POST', { origin: 'https://app.example.com' })).toBeNull();
    expect(check('DELETE', {})).toBeNull();
  });

  it('refuses other sites, sibling subdomains and opaque origins, unless trusted', () => {
    expect(
      check('POST', { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' })?.status,
    ).toBe(403);
    expect(check('PUT', { 'sec-fetch-site': 'same-site' })).not.toBeNull();
    expect(check('PUT', { 'sec-fetch-site': 'same-site' }, { allowSameSite: true })).toBeNull();
    expect(check('PATCH', { origin: 'https://evil.example' })?.detail).toContain(
      'Origin: https://evil.example',
    );
    expect(check('POST', { origin: 'null' })).not.toBeNull();
    const trusted = { trustedOrigins: ['https://admin.example.com'] };
    expect(
      check(
        'POST',
        { 'sec-fetch-site': 'cross-site', origin: 'https://admin.example.com' },
        trusted,
      ),
    ).toBeNull();
  });

  it('double-submit: the header must carry the token derived from the session token', () => {
    const on = { doubleSubmit: true };
    expect(check('POST', {}, on)?.detail).toContain('x-csrf-token');
    expect(check('POST', { 'x-csrf-token': 'wrong' }, on)?.detail).toContain('does not match');
    expect(check('POST', { 'x-csrf-token': csrfTokenFor('sks_t.s') }, on)).toBeNull();
    expect(csrfTokenFor('sks_t.s')).not.toBe(csrfTokenFor('sks_t.z'));
  });
});
