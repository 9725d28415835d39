export { MemoryStore } from './memory-store.js';

import type { Clock } from '../core/clock.js';
import { MemoryStore } from './memory-store.js';

/**
 * Sessions in process memory, lost on restart: for tests only, and always chosen explicitly.
 * `clock` is the store's own clock, on which the refresh grace window runs (default: the process
 * clock).
 */
export function createMemoryStore(options: { clock?: Clock } = {}): MemoryStore {
  return new MemoryStore(options);
}
