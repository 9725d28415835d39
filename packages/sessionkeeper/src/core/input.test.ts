import { describe, expect, it } from 'vitest';
import { mergeDataJson } from './data-patch.js';
import { PayloadTooLargeError, ValidationError } from './errors.js';
import {
  checkSeconds,
  checkSubject,
  MAX_DATA_DEPTH,
  serializeData,
  serializePatch,
} from './input.js';

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof ValidationError || error instanceof PayloadTooLargeError)
      return error.field;
    throw error;
  }
  return undefined;
}

describe('argument checks', () => {
  it('accept JSON objects and return their JSON text', () => {
    expect(serializeData(undefined, 100)).toBe('{}');
    expect(serializeData({ a: [1, 'x', null, true, { b: 2.5 }] }, 100)).toBe(
      '{"a":[1,"x",null,true,{"b":2.5}]}',
    );
    expect(serializeData(Object.assign(Object.create(null), { a: 1 }), 100)).toBe('{"a":1}');
  });

  it('name the path of what JSON cannot hold', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(fieldOf(() => serializeData({ a: { b: [1, undefined] } }, 100))).toBe('data.a.b[1]');
    expect(fieldOf(() => serializeData({ n: Number.POSITIVE_INFINITY }, 100))).toBe('data.n');
    expect(fieldOf(() => serializeData({ big: 10n }, 100))).toBe('data.big');
    expect(fieldOf(() => serializeData({ m: new Map() }, 100))).toBe('data.m');
    expect(fieldOf(() => serializeData(cyclic, 100))).toBe('data.self');
    expect(fieldOf(() => serializeData([1], 100))).toBe('data');
    expect(fieldOf(() => serializeData(null, 100))).toBe('data');
  });

  it('refuse data nested deeper than the limit, naming the path, without overflowing the stack', () => {
    const nested = (levels: number): Record<string, unknown> => {
      let value: Record<string, unknown> = {};
      for (let i = 1; i < levels; i++) value = { a: value };
      return value;
    };
    expect(() => serializeData(nested(MAX_DATA_DEPTH), 10_000)).not.toThrow();
    expect(fieldOf(() => serializeData(nested(MAX_DATA_DEPTH + 1), 10_000))).toBe(
      `data${'.a'.repeat(MAX_DATA_DEPTH)}`,
    );
    // Deep enough to overflow any recursive walk (and JSON.stringify) long before the end.
    expect(fieldOf(() => serializeData(nested(200_000), 10_000_000))).toBe(
      `data${'.a'.repeat(MAX_DATA_DEPTH)}`,
    );
    let array: unknown[] = [];
    for (let i = 0; i < 100_000; i++) array = [array];
    expect(fieldOf(() => serializeData({ list: array }, 10_000_000))).toBe(
      `data.list${'[0]'.repeat(MAX_DATA_DEPTH - 1)}`,
    );
    // Holes in an array are undefined, which JSON would turn into null: refused by index.
    // biome-ignore lint/suspicious/noSparseArray: the hole is the point
    expect(fieldOf(() => serializeData({ s: [1, , 3] }, 100))).toBe('data.s[1]');
  });

  it('measure the size limit in UTF-8 bytes', () => {
    expect(() => serializeData({ s: 'é'.repeat(10) }, 28)).not.toThrow();
    expect(() => serializeData({ s: 'é'.repeat(10) }, 27)).toThrow(PayloadTooLargeError);
  });

  it('refuse empty, overlong and control-character subjects', () => {
    expect(checkSubject('user@example.com')).toBe('user@example.com');
    expect(checkSubject('emoji \ud83d\ude00 pair')).toBe('emoji \ud83d\ude00 pair');
    for (const bad of [
      '',
      '   ',
      'a'.repeat(257),
      'a\nb',
      5,
      null,
      'x\ud800',
      '\udc00y',
      'a\ude00\ud83d',
    ])
      expect(fieldOf(() => checkSubject(bad))).toBe('subject');
  });

  it('refuse durations that are not positive finite numbers of seconds', () => {
    expect(checkSeconds(0.5, 'x')).toBe(0.5);
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, '30', 1e12]) {
      expect(fieldOf(() => checkSeconds(bad, 'idleTimeoutSeconds'))).toBe('idleTimeoutSeconds');
    }
  });
});

describe('data patches', () => {
  it('turn set into JSON texts and check each value as a member of data', () => {
    expect(serializePatch({ set: { a: [], b: { c: 1 } }, remove: ['x', 'x'] }, 100)).toEqual({
      set: [
        ['a', '[]'],
        ['b', '{"c":1}'],
      ],
      remove: ['x'],
    });
    expect(serializePatch({}, 100)).toEqual({ set: [], remove: [] });
    expect(fieldOf(() => serializePatch('x', 100))).toBe('patch');
    expect(fieldOf(() => serializePatch({ set: [1] }, 100))).toBe('patch.set');
    expect(fieldOf(() => serializePatch({ remove: [1] }, 100))).toBe('patch.remove');
    expect(fieldOf(() => serializePatch({ set: { a: 1 }, remove: ['a'] }, 100))).toBe(
      'patch.remove',
    );
    expect(fieldOf(() => serializePatch({ set: { a: undefined } }, 100))).toBe('data.a');
    expect(fieldOf(() => serializePatch({ set: { a: { d: new Date() } } }, 100))).toBe('data.a.d');
    // data is level 1, so a value may nest one level less than data itself.
    let deep: unknown = 1;
    for (let level = 0; level < MAX_DATA_DEPTH - 1; level++) deep = [deep];
    expect(() => serializePatch({ set: { a: deep } }, 1000)).not.toThrow();
    expect(fieldOf(() => serializePatch({ set: { a: [deep] } }, 1000))).toMatch(/^data\.a/);
    // The written keys alone over the limit: refused before any store call.
    expect(() => serializePatch({ set: { a: 'x'.repeat(100) } }, 100)).toThrow(
      PayloadTooLargeError,
    );
  });

  it('merge on the text: stored keys keep their place, values their exact text', () => {
    const merged = mergeDataJson('{"a":1,"b":[],"c":"x"}', {
      set: [
        ['b', '{}'],
        ['__proto__', '12345678901234567890'],
      ],
      remove: ['c', 'missing'],
    });
    expect(merged.dataJson).toBe('{"a":1,"b":{},"__proto__":12345678901234567890}');
    expect(merged.sizeBytes).toBe(Buffer.byteLength(merged.dataJson));
  });
});
