import { PayloadTooLargeError, ValidationError } from './errors.js';
import type { SessionData } from './types.js';

const MAX_SUBJECT_LENGTH = 256;
const MAX_DURATION_SECONDS = 10 * 365 * 86400;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it rejects
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/** The subject: a non-empty string of at most 256 characters without control characters. */
export function checkSubject(value: unknown, field = 'subject'): string {
  if (typeof value !== 'string')
    throw new ValidationError(field, `must be a string, got ${typeOf(value)}`);
  if (value.trim().length === 0) throw new ValidationError(field, 'must not be empty');
  if (value.length > MAX_SUBJECT_LENGTH) {
    throw new ValidationError(
      field,
      `must be at most ${MAX_SUBJECT_LENGTH} characters, got ${value.length}`,
    );
  }
  if (CONTROL_CHARS.test(value))
    throw new ValidationError(field, 'must not contain control characters');
  return value;
}

/** A duration in seconds: a finite number greater than zero (fractions allowed), at most 10 years. */
export function checkSeconds(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new ValidationError(field, `must be a number of seconds, got ${typeOf(value)}`);
  }
  if (value <= 0) throw new ValidationError(field, `must be greater than 0 seconds, got ${value}`);
  if (value > MAX_DURATION_SECONDS) {
    throw new ValidationError(
      field,
      `must be at most ${MAX_DURATION_SECONDS} seconds (10 years), got ${value}`,
    );
  }
  return value;
}

export function checkPositiveInteger(
  value: unknown,
  field: string,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new ValidationError(
      field,
      `must be an integer from 1 to ${max}, got ${describeValue(value)}`,
    );
  }
  return value;
}

export function checkOneOf<T extends string>(
  value: unknown,
  allowed: readonly T[],
  field: string,
): T {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value))
    return value as T;
  throw new ValidationError(
    field,
    `must be one of ${allowed.map((a) => `"${a}"`).join(', ')}, got ${describeValue(value)}`,
  );
}

/**
 * Session data: a plain JSON object whose serialized size is at most `maxBytes`. Returns the JSON
 * text. Anything JSON cannot carry faithfully (undefined, functions, NaN, Dates, class instances,
 * cycles) is refused with the path of the offending value, so what is read back equals what was written.
 */
export function serializeData(value: unknown, maxBytes: number, field = 'data'): string {
  if (value === undefined) return '{}';
  if (!isPlainObject(value))
    throw new ValidationError(field, `must be a JSON object, got ${typeOf(value)}`);
  checkJson(value, field, new Set());
  const json = JSON.stringify(value);
  const size = Buffer.byteLength(json);
  if (size > maxBytes) throw new PayloadTooLargeError(field, size, maxBytes);
  return json;
}

export function parseData<Data extends SessionData>(json: string): Data {
  return JSON.parse(json) as Data;
}

function checkJson(value: unknown, path: string, seen: Set<object>): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value))
        throw new ValidationError(path, `is ${value}, which JSON cannot hold`);
      return;
    case 'object': {
      if (value === null) return;
      if (seen.has(value)) throw new ValidationError(path, 'is a circular reference');
      seen.add(value);
      if (Array.isArray(value)) {
        for (const [i, item] of value.entries()) checkJson(item, `${path}[${i}]`, seen);
      } else if (isPlainObject(value)) {
        for (const [key, item] of Object.entries(value)) checkJson(item, `${path}.${key}`, seen);
      } else {
        throw new ValidationError(
          path,
          `is a ${typeOf(value)}, which JSON cannot hold faithfully; store a string or number`,
        );
      }
      seen.delete(value);
      return;
    }
    default:
      throw new ValidationError(path, `is ${typeOf(value)}, which JSON cannot hold`);
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object')
    return value.constructor?.name ? `${value.constructor.name}` : 'object';
  return typeof value;
}

function describeValue(value: unknown): string {
  return typeof value === 'string'
    ? `"${value.slice(0, 40)}"`
    : typeof value === 'number'
      ? String(value)
      : typeOf(value);
}
