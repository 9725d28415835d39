import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSqliteStore } from '../../packages/sessionkeeper/src/sqlite/index.js';
import { type FuzzTarget, fuzzHttpApi, startTarget } from './http-fuzz.js';

const dir = mkdtempSync(join(tmpdir(), 'sessionkeeper-fuzz-'));
let target: FuzzTarget;

beforeAll(async () => {
  target = await startTarget(createSqliteStore({ path: join(dir, 'sessions.db') }));
});
afterAll(async () => {
  await target?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('HTTP API fuzz on SQLite', () => {
  it('answers every generated request with a documented success or a registry problem, within 2 s', async () => {
    const { runs } = await fuzzHttpApi(target);
    console.info(`fuzz: ${runs} generated requests answered as promised`);
    expect(runs).toBeGreaterThan(50);
  }, 45_000);
});
