import { ValidationError } from 'sessionkeeper/internal/errors';
import { describe, expect, it } from 'vitest';
import { parseStoreUrl } from './store-url.js';

describe('parseStoreUrl', () => {
  it('reads every supported kind of store', () => {
    expect(parseStoreUrl('sqlite:./data/s.db')).toEqual({
      kind: 'sqlite',
      path: './data/s.db',
      location: 'sqlite:./data/s.db',
    });
    expect(parseStoreUrl('sqlite:///var/lib/s.db')).toMatchObject({
      kind: 'sqlite',
      path: '/var/lib/s.db',
    });
    expect(parseStoreUrl('memory:')).toEqual({ kind: 'memory', location: 'memory:' });
    expect(parseStoreUrl('redis://:pw@cache:6380/2')).toMatchObject({
      kind: 'redis',
      url: 'redis://:pw@cache:6380/2',
    });
    expect(parseStoreUrl('rediss://cache')).toMatchObject({ kind: 'redis' });
    expect(parseStoreUrl('redis+cluster://a:7000,b:7001')).toMatchObject({ kind: 'redis' });
  });

  it('keeps passwords out of the location', () => {
    expect(parseStoreUrl('redis://user:hunter2@cache:6379').location).not.toContain('hunter2');
  });

  it('refuses anything else as a ValidationError on store', () => {
    for (const text of [
      '',
      'sqlite:',
      'memory:x',
      'postgres://db',
      'redis://',
      './file.db',
      'redis://h:99999',
    ]) {
      const error = (() => {
        try {
          parseStoreUrl(text);
        } catch (e) {
          return e;
        }
      })();
      expect(error, text).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field, text).toBe('store');
    }
  });
});
