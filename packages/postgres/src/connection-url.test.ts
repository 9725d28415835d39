import { ValidationError } from 'sessionkeeper/internal/errors';
import { describe, expect, it } from 'vitest';
import { checkSchemaName, parsePostgresUrl } from './connection-url.js';

function refusal(run: () => unknown): ValidationError {
  try {
    run();
  } catch (error) {
    if (error instanceof ValidationError) return error;
    throw error;
  }
  throw new Error('expected a ValidationError');
}

describe('parsePostgresUrl', () => {
  it('takes a URL apart and shows it without the password', () => {
    const url = parsePostgresUrl(
      'postgresql://ad%40m:p%3Ass@[::1]:6543/my%20db?sslmode=verify-full',
    );
    expect(url).toMatchObject({
      host: '::1',
      port: 6543,
      database: 'my db',
      user: 'ad@m',
      password: 'p:ss',
      ssl: { rejectUnauthorized: true },
      location: 'postgresql://ad%40m@[::1]:6543/my%20db?sslmode=verify-full',
    });
    expect(parsePostgresUrl('postgres://h/db')).toMatchObject({ port: 5432, ssl: false });
    expect(parsePostgresUrl('postgres://h/db?sslmode=require').ssl).toEqual({
      rejectUnauthorized: false,
    });
  });

  it('refuses what it cannot use exactly, naming url, never echoing the password', () => {
    for (const text of [
      'postgres://h',
      'postgres://h/',
      'postgres://h:70000/db',
      'postgres://h/db?sslmode=prefer',
      'postgres://h/db?sslmode=allow',
      'postgres://h/db?sslmode=bogus',
      'postgres://h/db?application_name=x',
      'mysql://h/db',
    ]) {
      expect(refusal(() => parsePostgresUrl(text)).field, text).toBe('url');
    }
    expect(refusal(() => parsePostgresUrl('postgres://u:secret@h')).message).not.toContain(
      'secret',
    );
  });
});

describe('checkSchemaName', () => {
  it('accepts identifiers it can quote and refuses the rest, naming schema', () => {
    expect(checkSchemaName('sessionkeeper')).toBe('sessionkeeper');
    expect(checkSchemaName('_Sk_2')).toBe('_Sk_2');
    for (const bad of ['', '1abc', 'a-b', 'a"b', 'pg_temp', 'x'.repeat(64), 42]) {
      expect(refusal(() => checkSchemaName(bad)).field, String(bad)).toBe('schema');
    }
  });
});
