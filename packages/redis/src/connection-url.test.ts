import { ValidationError } from 'sessionkeeper/internal/errors';
import { describe, expect, it } from 'vitest';
import { parseRedisUrl } from './connection-url.js';

describe('parseRedisUrl', () => {
  it('reads a standalone URL and keeps the password out of the location', () => {
    expect(parseRedisUrl('redis://app:s3cr%40t@cache.internal:6380/2')).toMatchObject({
      mode: 'standalone',
      tls: false,
      nodes: [{ host: 'cache.internal', port: 6380 }],
      username: 'app',
      password: 's3cr@t',
      db: 2,
      location: 'redis://app@cache.internal:6380/2',
    });
    expect(parseRedisUrl('redis://:pw@localhost')).toMatchObject({
      username: undefined,
      password: 'pw',
      nodes: [{ host: 'localhost', port: 6379 }],
      location: 'redis://localhost:6379',
    });
  });

  it('turns on TLS for rediss://', () => {
    expect(parseRedisUrl('rediss://h:6390')).toMatchObject({
      tls: true,
      location: 'rediss://h:6390',
    });
  });

  it('reads Sentinel URLs: sentinels, master name, database, sentinel credentials', () => {
    const parsed = parseRedisUrl(
      'redis+sentinel://:masterpw@s1:26379,s2,[::1]:26380/mymaster/3?sentinelPassword=sp',
    );
    expect(parsed).toMatchObject({
      mode: 'sentinel',
      nodes: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26379 },
        { host: '::1', port: 26380 },
      ],
      masterName: 'mymaster',
      db: 3,
      password: 'masterpw',
      sentinelPassword: 'sp',
      location: 'redis+sentinel://s1:26379,s2:26379,[::1]:26380/mymaster/3',
    });
    expect(parseRedisUrl('rediss+sentinel://s1/m').tls).toBe(true);
  });

  it('reads Cluster URLs', () => {
    expect(parseRedisUrl('redis+cluster://u:p@10.0.0.1:7000,10.0.0.2:7001')).toMatchObject({
      mode: 'cluster',
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: '10.0.0.2', port: 7001 },
      ],
      location: 'redis+cluster://u@10.0.0.1:7000,10.0.0.2:7001',
    });
  });

  it('refuses malformed URLs with a ValidationError on `url` that never echoes a password', () => {
    const bad = [
      'http://h',
      'redis://',
      'redis://a:1,b:2',
      'redis://h:99999',
      'redis://h/x',
      'redis+sentinel://s1',
      'redis+cluster://h:1/0',
      'redis://:topsecret@h?foo=1',
    ];
    for (const url of bad) {
      const error = (() => {
        try {
          parseRedisUrl(url);
        } catch (e) {
          return e;
        }
      })();
      expect(error, url).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field, url).toBe('url');
      expect((error as Error).message, url).not.toContain('topsecret');
    }
  });
});
