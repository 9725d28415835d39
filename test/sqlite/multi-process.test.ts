import { describe, expect, it } from 'vitest';
import type { StoredEvent } from '../../packages/sessionkeeper/src/core/store.js';
import { createSqliteStore } from '../../packages/sessionkeeper/src/sqlite/index.js';
import { FixtureProcess, startTogether } from './child-process.js';
import { buildRecord } from './fixtures/records.js';
import { withTempDir } from './temp-dir.js';

const tempPath = withTempDir('multi-process');
const PROCESSES = 4;
const ATTEMPTS_EACH = 15;

async function allEvents(path: string): Promise<StoredEvent[]> {
  const store = createSqliteStore({ path });
  try {
    return await store.claimEvents(Date.now(), 1_000_000, 60_000);
  } finally {
    await store.close();
  }
}

async function activeOf(path: string, subject: string): Promise<number> {
  const store = createSqliteStore({ path });
  try {
    return (await store.list(subject, { limit: 1000, cursor: null }, Date.now())).records.length;
  } finally {
    await store.close();
  }
}

function capped(path: string, policy: 'evict' | 'refuse'): FixtureProcess[] {
  return Array.from(
    { length: PROCESSES },
    () =>
      new FixtureProcess('create-capped.ts', [path, 'shared', String(ATTEMPTS_EACH), '5', policy]),
  );
}

describe('sqlite: several processes on one file', () => {
  it('never leaves more than the per-subject cap active when processes create at once (evict)', async () => {
    // A new file: the processes also race to create and migrate it.
    const path = tempPath('evict.db');
    const fixtures = capped(path, 'evict');
    await startTogether(fixtures);
    const results = await Promise.all(
      fixtures.map((f) => f.result<{ created: number; refused: number }>()),
    );
    const attempts = PROCESSES * ATTEMPTS_EACH;
    expect(results.reduce((sum, r) => sum + r.created, 0)).toBe(attempts);
    expect(await activeOf(path, 'shared')).toBe(5);
    const events = await allEvents(path);
    expect(events.filter((e) => e.type === 'created')).toHaveLength(attempts);
    expect(events.filter((e) => e.type === 'evicted')).toHaveLength(attempts - 5);
  });

  it('lets exactly max creations succeed across processes (refuse)', async () => {
    const path = tempPath('refuse.db');
    const fixtures = capped(path, 'refuse');
    await startTogether(fixtures);
    const results = await Promise.all(
      fixtures.map((f) => f.result<{ created: number; refused: number }>()),
    );
    expect(results.reduce((sum, r) => sum + r.created, 0)).toBe(5);
    expect(results.reduce((sum, r) => sum + r.refused, 0)).toBe(PROCESSES * ATTEMPTS_EACH - 5);
    expect(await activeOf(path, 'shared')).toBe(5);
    const events = await allEvents(path);
    expect(events.filter((e) => e.type === 'created')).toHaveLength(5);
    expect(events.filter((e) => e.type === 'evicted')).toHaveLength(0);
  });

  it('gives each expired session exactly one expired event when two processes sweep at once', async () => {
    const path = tempPath('sweep.db');
    const startMs = Date.UTC(2026, 0, 15, 10);
    const total = 3000;
    const store = createSqliteStore({ path });
    const ids = new Set<string>();
    for (let i = 0; i < total; i++) {
      const record = buildRecord(`s${i % 50}`, startMs + i, { idleTimeoutSeconds: 60 });
      await store.create(record, {}, startMs + i);
      ids.add(record.id);
    }
    await store.close();

    const sweepAtMs = String(startMs + 3600_000);
    const fixtures = [1, 2].map(() => new FixtureProcess('sweep.ts', [path, sweepAtMs, '25']));
    await startTogether(fixtures);
    const results = await Promise.all(fixtures.map((f) => f.result<{ expired: number }>()));
    // Both really swept (the file was shared, not handed to one of them)...
    for (const result of results) expect(result.expired).toBeGreaterThan(0);
    // ...and together they expired each session once.
    expect(results.reduce((sum, r) => sum + r.expired, 0)).toBe(total);

    const expired = (await allEvents(path)).filter((e) => e.type === 'expired');
    expect(expired).toHaveLength(total);
    expect(new Set(expired.map((e) => e.session.id))).toEqual(ids);
    for (const event of expired) {
      expect(event.reason).toBe('idle');
      expect(event.session.status).toBe('expired');
    }
  });
});
