// Assertions the conformance suite needs beyond node:assert/strict, so that it runs under any test
// runner (vitest, jest, node:test) without importing one. Each fails with an AssertionError that
// says what was expected and what came instead.
import { strict as assert } from 'node:assert';
import { inspect } from 'node:util';

const show = (value: unknown): string => inspect(value, { depth: 4, breakLength: Infinity });

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * `actual` has every field listed in `expected`: nested plain objects are compared field by field
 * the same way (extra fields in `actual` are allowed), anything else (arrays, dates, primitives)
 * must be deep-equal. `actual` may be any object, an Error included.
 */
export function assertFields(
  actual: unknown,
  expected: Record<string, unknown>,
  message?: string,
): void {
  const check = (value: unknown, wanted: Record<string, unknown>, path: string): void => {
    if (typeof value !== 'object' || value === null) {
      assert.fail(
        `${message ? `${message}: ` : ''}expected an object at ${path || 'the top'}, got ${show(value)}`,
      );
    }
    const record = value as Record<string, unknown>;
    for (const [key, want] of Object.entries(wanted)) {
      const at = path ? `${path}.${key}` : key;
      if (isPlainObject(want)) {
        check(record[key], want, at);
      } else {
        assert.deepEqual(
          record[key],
          want,
          `${message ? `${message}: ` : ''}${at} is ${show(record[key])}, expected ${show(want)} (in ${show(actual)})`,
        );
      }
    }
  };
  check(actual, expected, '');
}

/** `actual` is an instance of `type` (an Error class, usually). */
export function assertInstanceOf(
  actual: unknown,
  type: abstract new (...args: never[]) => unknown,
  message?: string,
): void {
  if (actual instanceof type) return;
  assert.fail(
    `${message ? `${message}: ` : ''}expected an instance of ${type.name}, got ${show(actual)}`,
  );
}

/** `actual` is a string that matches `pattern`. */
export function assertMatches(actual: unknown, pattern: RegExp, message?: string): void {
  if (typeof actual !== 'string') {
    assert.fail(
      `${message ? `${message}: ` : ''}expected a string matching ${pattern}, got ${show(actual)}`,
    );
  }
  assert.match(actual, pattern, message);
}

/** `actual` is an array (or string) of exactly `length` items. */
export function assertLength(actual: unknown, length: number, message?: string): void {
  const got = Array.isArray(actual) || typeof actual === 'string' ? actual.length : undefined;
  if (got === length) return;
  assert.fail(
    `${message ? `${message}: ` : ''}expected ${length} items, got ${got === undefined ? 'no array' : got}: ${show(actual)}`,
  );
}
