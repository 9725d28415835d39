export { MemoryStore } from './memory-store.js';

import { MemoryStore } from './memory-store.js';

/** Sessions in process memory, lost on restart: for tests only, and always chosen explicitly. */
export function createMemoryStore(): MemoryStore {
  return new MemoryStore();
}
