import { defineConfig } from 'vitest/config';

// Packages import each other by name; this export condition points those imports at the sources
// (packages/*/src) instead of a build. NODE_OPTIONS carries it to processes the tests start.
const SOURCE_CONDITION = 'sessionkeeper-source';

// One project per kind of test, so `npm test -- --project unit` runs just one of them.
export default defineConfig({
  resolve: { conditions: [SOURCE_CONDITION, 'module', 'node', 'development|production'] },
  ssr: { resolve: { conditions: [SOURCE_CONDITION, 'module', 'node', 'development|production'] } },
  test: {
    env: {
      SESSIONKEEPER_LOG_LEVEL: 'silent',
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --conditions=${SOURCE_CONDITION}`.trim(),
    },
    testTimeout: 20_000,
    hookTimeout: 60_000,
    projects: [
      { extends: true, test: { name: 'unit', include: ['packages/*/src/**/*.test.ts'] } },
      { extends: true, test: { name: 'core', include: ['test/core/**/*.test.ts'] } },
      { extends: true, test: { name: 'conformance', include: ['test/conformance/**/*.test.ts'] } },
      { extends: true, test: { name: 'sqlite', include: ['test/sqlite/**/*.test.ts'] } },
      { extends: true, test: { name: 'middleware', include: ['test/middleware/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'express-session',
          include: ['test/express-session/**/*.test.ts'],
          testTimeout: 60_000,
        },
      },
      { extends: true, test: { name: 'client', include: ['test/client/**/*.test.ts'] } },
      {
        extends: true,
        test: { name: 'pool', include: ['test/pool/**/*.test.ts'], testTimeout: 120_000 },
      },
      {
        extends: true,
        test: { name: 'server', include: ['test/server/**/*.test.ts'], testTimeout: 30_000 },
      },
      {
        extends: true,
        test: { name: 'redis', include: ['test/redis/**/*.test.ts'], testTimeout: 60_000 },
      },
      // Property-based fuzzing of the HTTP API (fast-check); each property stops on a time budget.
      { extends: true, test: { name: 'fuzz', include: ['test/fuzz/**/*.test.ts'] } },
      // The packed tarballs installed into fresh consumer projects (npm pack, npm install, tsc).
      {
        extends: true,
        test: {
          name: 'packaging',
          include: ['test/packaging/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
