import { createMemoryStore } from '../../src/memory/index.js';
import { describeStoreConformance } from '../../src/testing/index.js';

describeStoreConformance('memory', { create: async () => createMemoryStore() });
