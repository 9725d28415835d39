import { describe, expect, it } from 'vitest';
import { allocate } from './fan-out.js';

describe('allocate', () => {
  it('gives each shard what it has due, from the start shard on, until the limit is used', () => {
    expect(allocate([3, 0, 5, 2], 100, 0)).toEqual([3, 0, 5, 2]);
    expect(allocate([3, 0, 5, 2], 6, 0)).toEqual([3, 0, 3, 0]);
    expect(allocate([3, 0, 5, 2], 6, 2)).toEqual([0, 0, 5, 1]);
    expect(allocate([3, 0, 5, 2], 0, 1)).toEqual([0, 0, 0, 0]);
  });
});
