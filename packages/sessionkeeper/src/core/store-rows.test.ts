import { describe, expect, it } from 'vitest';
import { timeOrderedUuid } from './store-rows.js';

describe('timeOrderedUuid', () => {
  it('is a version 7 UUID whose first 48 bits are the milliseconds, so ids sort by time', () => {
    const at = Date.UTC(2026, 0, 15, 10);
    const id = timeOrderedUuid(at);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(Number.parseInt(id.replace('-', '').slice(0, 12), 16)).toBe(at);
    const later = Array.from({ length: 100 }, (_, i) => timeOrderedUuid(at + 1 + i));
    expect([...later].sort()).toEqual(later);
    expect(later.every((next) => next > id)).toBe(true);
  });

  it('does not repeat within one millisecond', () => {
    const ids = Array.from({ length: 10_000 }, () => timeOrderedUuid(0));
    expect(new Set(ids).size).toBe(ids.length);
  });
});
