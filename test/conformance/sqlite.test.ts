import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, it } from 'vitest';
import { createSqliteStore } from '../../packages/sessionkeeper/src/sqlite/index.js';
import { describeStoreConformance } from '../../packages/sessionkeeper/src/testing/index.js';

const dir = await mkdtemp(join(tmpdir(), 'sk-conformance-'));
let n = 0;

describeStoreConformance(
  'sqlite',
  {
    create: async () => createSqliteStore({ path: join(dir, `store-${++n}.db`) }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  },
  { describe, it, afterEach, afterAll },
);
