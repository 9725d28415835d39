import { PayloadTooLargeError, ValidationError } from './errors.js';
import type { DataPatch } from './store.js';
import type { SessionData } from './types.js';

const MAX_SUBJECT_LENGTH = 256;
const MAX_DURATION_SECONDS = 10 * 365 * 86400;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it rejects
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;
/** With the `u` flag only a surrogate that is not half of a pair matches. */
const LONE_SURROGATE = /[\ud800-\udfff]/u;
/**
 * How deeply objects and arrays may nest in session data, `data` itself being level 1. Far above
 * what sessions hold, far below what could exhaust the stack of anything that reads it back.
 */
export const MAX_DATA_DEPTH = 32;

/**
 * The subject: a non-empty string of at most 256 characters without control characters or lone
 * UTF-16 surrogates (which have no UTF-8 form: stored, they could never be listed or revoked).
 */
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
  if (!isWellFormed(value)) {
    throw new ValidationError(
      field,
      'must be well-formed Unicode: it contains a lone UTF-16 surrogate (an unpaired \\uD800-\\uDFFF)',
    );
  }
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

/** False when `value` holds a UTF-16 surrogate that is not half of a pair. */
export function isWellFormed(value: string): boolean {
  return !LONE_SURROGATE.test(value);
}

/**
 * Session data: a plain JSON object whose serialized size is at most `maxBytes`, nested at most
 * `MAX_DATA_DEPTH` levels. Returns the JSON text. Anything JSON cannot carry faithfully
 * (undefined, functions, NaN, Dates, class instances, cycles) is refused with the path of the
 * offending value, so what is read back equals what was written.
 */
export function serializeData(value: unknown, maxBytes: number, field = 'data'): string {
  if (value === undefined) return '{}';
  if (!isPlainObject(value))
    throw new ValidationError(field, `must be a JSON object, got ${typeOf(value)}`);
  checkJson(value, field);
  const json = JSON.stringify(value);
  const size = Buffer.byteLength(json);
  if (size > maxBytes) throw new PayloadTooLargeError(field, size, maxBytes);
  return json;
}

/**
 * A top-level change to session data (`engine.patch`): `set` a plain object of keys to write,
 * `remove` a list of keys to delete, never naming one key twice. Each value is checked as
 * `serializeData` checks members of data (one level down, so the nesting limit counts the same).
 * Returns the store's `DataPatch`. Throws `PayloadTooLargeError` when the written keys alone are
 * over `maxBytes`; the store checks the merged result.
 */
export function serializePatch(patch: unknown, maxBytes: number): DataPatch {
  if (!isPlainObject(patch))
    throw new ValidationError('patch', `must be an object, got ${typeOf(patch)}`);
  const { set = {}, remove = [] } = patch as { set?: unknown; remove?: unknown };
  if (!isPlainObject(set))
    throw new ValidationError('patch.set', `must be an object, got ${typeOf(set)}`);
  if (!Array.isArray(remove) || !remove.every((key) => typeof key === 'string')) {
    throw new ValidationError('patch.remove', 'must be a list of keys (strings)');
  }
  const entries: Array<readonly [string, string]> = [];
  // The smallest object holding the written keys: `{}` plus `"key":value` and a comma each.
  let size = 2;
  for (const [key, value] of Object.entries(set)) {
    if (remove.includes(key)) {
      throw new ValidationError('patch.remove', `names "${key}", which patch.set writes`);
    }
    checkJson(value, `data.${key}`, 2);
    const valueJson = JSON.stringify(value);
    entries.push([key, valueJson]);
    size += (entries.length > 1 ? 1 : 0) + Buffer.byteLength(JSON.stringify(key)) + 1;
    size += Buffer.byteLength(valueJson);
  }
  if (size > maxBytes) throw new PayloadTooLargeError('data', size, maxBytes);
  return { set: entries, remove: [...new Set(remove as string[])] };
}

export function parseData<Data extends SessionData>(json: string): Data {
  return JSON.parse(json) as Data;
}

/** A value still to check, or the marker that all of `leave`'s members have been checked. */
type Visit = { value: unknown; path: string; depth: number } | { leave: object };

/**
 * Walks the value with an explicit stack rather than recursion, so no nesting, however deep, can
 * overflow the call stack; members are visited in document order, so the first offence is named.
 */
function checkJson(root: unknown, field: string, depth = 1): void {
  const stack: Visit[] = [{ value: root, path: field, depth }];
  // The containers on the path from the root to the current value: meeting one again is a cycle.
  const ancestors = new Set<object>();
  for (let visit = stack.pop(); visit !== undefined; visit = stack.pop()) {
    if ('leave' in visit) {
      ancestors.delete(visit.leave);
      continue;
    }
    const { value, path, depth } = visit;
    switch (typeof value) {
      case 'string':
      case 'boolean':
        continue;
      case 'number':
        if (!Number.isFinite(value))
          throw new ValidationError(path, `is ${value}, which JSON cannot hold`);
        continue;
      case 'object': {
        if (value === null) continue;
        if (ancestors.has(value)) throw new ValidationError(path, 'is a circular reference');
        const isArray = Array.isArray(value);
        if (!isArray && !isPlainObject(value)) {
          throw new ValidationError(
            path,
            `is a ${typeOf(value)}, which JSON cannot hold faithfully; store a string or number`,
          );
        }
        if (depth > MAX_DATA_DEPTH) {
          throw new ValidationError(
            path,
            `nests objects and arrays more than ${MAX_DATA_DEPTH} levels deep; flatten the data`,
          );
        }
        ancestors.add(value);
        stack.push({ leave: value });
        const members: Array<[string, unknown]> = isArray
          ? Array.from(value, (item, i): [string, unknown] => [`${path}[${i}]`, item])
          : Object.entries(value).map(([key, item]): [string, unknown] => [`${path}.${key}`, item]);
        for (let i = members.length - 1; i >= 0; i--) {
          const [memberPath, item] = members[i] as [string, unknown];
          stack.push({ value: item, path: memberPath, depth: depth + 1 });
        }
        continue;
      }
      default:
        throw new ValidationError(path, `is ${typeOf(value)}, which JSON cannot hold`);
    }
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
