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
    expect(parseStoreUrl('postgres://app:hunter2@db/sessions').location).toBe(
      'postgres://app@db:5432/sessions',
    );
  });

  it('reads PostgreSQL URLs, both schemes, with sslmode', () => {
    expect(parseStoreUrl('postgres://app@db:5433/sessions')).toMatchObject({
      kind: 'postgres',
      location: 'postgres://app@db:5433/sessions',
    });
    expect(parseStoreUrl('postgresql://db/sessions?sslmode=require')).toMatchObject({
      kind: 'postgres',
      location: 'postgresql://db:5432/sessions?sslmode=require',
    });
  });

  it('refuses anything else as a ValidationError on store', () => {
    for (const text of [
      '',
      'sqlite:',
      'memory:x',
      'postgres://db',
      'postgres://db/x?sslmode=prefer',
      'postgres://db/x?ssl=true',
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
