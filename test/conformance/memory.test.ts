import { afterAll, afterEach, describe, it } from 'vitest';
import { createMemoryStore } from '../../packages/sessionkeeper/src/memory/index.js';
import { describeStoreConformance } from '../../packages/sessionkeeper/src/testing/index.js';

describeStoreConformance(
  'memory',
  { create: async () => createMemoryStore() },
  { describe, it, afterEach, afterAll },
);
