import { describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../core/errors.js';
import { toStoreError } from './sqlite-errors.js';

function driverError(code: string, message = 'driver message'): Error {
  return Object.assign(new Error(message), { code });
}

describe('toStoreError', () => {
  it('turns I/O-class SQLite codes, base or extended, into StoreUnavailableError naming the file', () => {
    for (const code of [
      'SQLITE_BUSY',
      'SQLITE_BUSY_SNAPSHOT',
      'SQLITE_IOERR_WRITE',
      'SQLITE_CANTOPEN_ISDIR',
      'SQLITE_FULL',
      'SQLITE_READONLY_DBMOVED',
      'SQLITE_NOTADB',
      'SQLITE_CORRUPT',
    ]) {
      const cause = driverError(code);
      const error = toStoreError(cause, './data/s.db');
      expect(error, code).toBeInstanceOf(StoreUnavailableError);
      expect((error as Error).message, code).toContain('./data/s.db');
      expect((error as Error).message, code).toContain(code);
      expect((error as Error).cause, code).toBe(cause);
    }
  });

  it('turns file-system errno errors (creating the directory) into StoreUnavailableError', () => {
    const error = toStoreError(driverError('ENOSPC', 'ENOSPC: no space left on device'), 'x.db');
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as Error).message).toMatch(/x\.db.*no space left/);
  });

  it('returns programmer errors unchanged', () => {
    for (const error of [
      driverError('SQLITE_CONSTRAINT_UNIQUE'),
      driverError('SQLITE_ERROR'),
      driverError('SQLITE_RANGE'),
      driverError('ERR_INVALID_ARG_TYPE'),
      new TypeError('not a function'),
      'a string',
    ]) {
      expect(toStoreError(error, 'x.db')).toBe(error);
    }
  });
});
