import { describe, expect, it } from 'vitest';
import { CookiePolicy, isLoopbackHost } from './cookies.js';
import { resolveMiddlewareOptions, type SessionMiddlewareOptions } from './options.js';
import type { RequestLike } from './request.js';

function request(headers: Record<string, string>, https = false): RequestLike {
  return { method: 'GET', url: '/', https, header: (name) => headers[name] };
}

const policy = (options: SessionMiddlewareOptions = {}) =>
  new CookiePolicy(resolveMiddlewareOptions(options));

describe('cookie policy', () => {
  it('loopback hosts, with or without port', () => {
    for (const host of [
      'localhost',
      'localhost:3000',
      'app.localhost',
      '127.0.0.1:8080',
      '127.1.2.3',
      '[::1]:3000',
    ])
      expect(isLoopbackHost(host), host).toBe(true);
    for (const host of ['example.com', 'localhost.example.com', '10.0.0.1', '[::2]', '', undefined])
      expect(isLoopbackHost(host), String(host)).toBe(false);
  });

  it('Secure except on plain http to a loopback host; X-Forwarded-Proto only with trustProxy', () => {
    expect(policy().isSecure(request({ host: 'localhost:3000' }))).toBe(false);
    expect(policy().isSecure(request({ host: 'localhost:3000' }, true))).toBe(true);
    expect(policy().isSecure(request({ host: 'app.example.com' }))).toBe(true);
    const forwarded = request({ host: 'localhost:3000', 'x-forwarded-proto': 'https, http' });
    expect(policy().isSecure(forwarded)).toBe(false);
    expect(policy({ trustProxy: true }).isSecure(forwarded)).toBe(true);
    expect(
      policy({ cookie: { secure: false } }).isSecure(request({ host: 'app.example.com' })),
    ).toBe(false);
  });

  it('__Host- prefix when Secure (__Secure- with a Domain), attributes from the options', () => {
    const p = policy();
    expect(p.sessionCookie('sks_a.b', 90.7, true)).toBe(
      '__Host-sk_session=sks_a.b; Max-Age=90; Path=/; HttpOnly; Secure; SameSite=Lax',
    );
    expect(p.sessionCookie('sks_a.b', 60, false)).toBe(
      'sk_session=sks_a.b; Max-Age=60; Path=/; HttpOnly; SameSite=Lax',
    );
    expect(p.csrfCookie('t', 60, false)).toBe('sk_csrf=t; Max-Age=60; Path=/; SameSite=Lax');
    expect(p.clearCookies(true)[0]).toBe(
      '__Host-sk_session=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax',
    );
    const shared = policy({ cookie: { domain: 'example.com', name: 'app', sameSite: 'strict' } });
    expect(shared.sessionCookie('v', 1, true)).toBe(
      '__Secure-app=v; Max-Age=1; Domain=example.com; Path=/; HttpOnly; Secure; SameSite=Strict',
    );
  });

  it('refuses options that cannot work, naming them', () => {
    expect(() => resolveMiddlewareOptions({ cookie: { name: '__Host-x' } })).toThrow(
      /cookie\.name/,
    );
    expect(() => resolveMiddlewareOptions({ cookie: { sameSite: 'none', secure: false } })).toThrow(
      /cookie\.sameSite/,
    );
    expect(() => resolveMiddlewareOptions({ loginPath: 'login' })).toThrow(/loginPath/);
    expect(() =>
      resolveMiddlewareOptions({ csrf: { trustedOrigins: ['https://a.example/x'] } }),
    ).toThrow(/csrf\.trustedOrigins\[0\]/);
    expect(() =>
      resolveMiddlewareOptions({ transports: { cookie: false, bearer: false } }),
    ).toThrow(/transports/);
  });
});
