import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  formatDuration,
  SessionExpiredError,
  SessionkeeperError,
  SessionRevokedError,
  StoreUnavailableError,
  ValidationError,
} from './errors.js';
import { toProblem } from './problem.js';
import { errorCodes, problemRegistry } from './problems.js';

describe('error registry', () => {
  const docs = readFileSync(new URL('../../../../docs/errors.md', import.meta.url), 'utf8');
  const documented = [...docs.matchAll(/^\| `([A-Z_]+)` +\| `([a-z-]+)` +\|/gm)].map((m) => [
    m[1],
    m[2],
  ]);

  it('documents every code with its slug in docs/errors.md', () => {
    for (const code of errorCodes) {
      expect(documented, code).toContainEqual([code, problemRegistry[code].slug]);
    }
  });

  it('documents no code that does not exist', () => {
    for (const [code] of documented) expect(errorCodes, code).toContain(code);
  });

  it('gives every code a distinct slug', () => {
    const slugs = errorCodes.map((code) => problemRegistry[code].slug);
    expect(new Set(slugs).size).toBe(slugs.length);
  });
});

describe('problems', () => {
  it('carry the slug, status, action and the specific detail', () => {
    const error = new SessionExpiredError(
      'abcdefgh',
      1800,
      new Date('2026-01-15T10:00:00.123Z'),
      new Date('2026-01-15T10:30:00Z'),
    );
    const problem = toProblem(error, {
      instance: '/v1/session/validate',
      requestId: 'r1',
      now: new Date('2026-01-15T11:00:00Z'),
    });
    expect(problem).toEqual({
      type: '/problems/session-expired',
      title: 'Session expired',
      status: 401,
      detail:
        'Session expired after 30 minutes of inactivity; last activity at 2026-01-15T10:00:00Z',
      code: 'SESSION_EXPIRED',
      action: 'reauthenticate',
      instance: '/v1/session/validate',
      requestId: 'r1',
      timestamp: '2026-01-15T11:00:00.000Z',
    });
  });

  it('name the field of a validation failure and tell store outages to retry', () => {
    expect(toProblem(new ValidationError('subject', 'must not be empty'))).toMatchObject({
      status: 400,
      field: 'subject',
      action: 'fix-request',
    });
    expect(toProblem(new StoreUnavailableError('down'))).toMatchObject({
      status: 503,
      action: 'retry',
    });
  });

  it('are checked by class, not by message', () => {
    const error: unknown = new SessionRevokedError('abcdefgh', 'evicted', new Date(0));
    expect(error).toBeInstanceOf(SessionkeeperError);
    expect((error as SessionRevokedError).revokedReason).toBe('evicted');
  });
});

describe('formatDuration', () => {
  it('reads like a person wrote it', () => {
    expect(formatDuration(1)).toBe('1 second');
    expect(formatDuration(1.5)).toBe('1.5 seconds');
    expect(formatDuration(60)).toBe('1 minute');
    expect(formatDuration(1800)).toBe('30 minutes');
    expect(formatDuration(5400)).toBe('1 hour 30 minutes');
    expect(formatDuration(86400)).toBe('1 day');
  });
});
