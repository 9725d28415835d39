import { afterAll, afterEach, describe, it } from 'vitest';
import { createPostgresStore } from '../../packages/postgres/src/index.js';
import { describeStoreConformance } from '../../packages/sessionkeeper/src/testing/index.js';
import {
  dropSchemas,
  POSTGRES_URL,
  postgresAvailable,
  uniqueSchema,
} from '../postgres/postgres-env.js';

// Each test gets its own schema (sk_test_<random>); cleanup drops them all.
const schemas: string[] = [];

describe.skipIf(!postgresAvailable)('postgres', () => {
  describeStoreConformance(
    `postgres (${POSTGRES_URL})`,
    {
      create: () => {
        const schema = uniqueSchema();
        schemas.push(schema);
        return createPostgresStore({ url: POSTGRES_URL, schema });
      },
      cleanup: () => dropSchemas(schemas),
    },
    { describe, it, afterEach, afterAll },
  );
});
