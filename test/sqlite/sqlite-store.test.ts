import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../packages/sessionkeeper/src/core/errors.js';
import type { SessionStore } from '../../packages/sessionkeeper/src/core/store.js';
import { createSqliteStore } from '../../packages/sessionkeeper/src/sqlite/index.js';
import { buildRecord } from './fixtures/records.js';
import { withTempDir } from './temp-dir.js';

const tempPath = withTempDir('store');
const T0 = Date.UTC(2026, 0, 15, 10);
let files = 0;

function newStore(options: { busyTimeoutMs?: number } = {}) {
  const path = tempPath(`store-${++files}.db`);
  return { path, store: createSqliteStore({ path, ...options }) };
}

async function fill(store: SessionStore, count: number, idleTimeoutSeconds = 60): Promise<void> {
  for (let i = 0; i < count; i++) {
    await store.create(buildRecord(`s${i % 13}`, T0 + i, { idleTimeoutSeconds }), {}, T0 + i);
  }
}

describe('sqlite store specifics', () => {
  it('stores no leases as NULL and parses them back only when present', async () => {
    const { path, store } = newStore();
    const record = buildRecord('u', T0);
    await store.create(record, {}, T0);
    const raw = new Database(path, { readonly: true });
    const leasesOf = raw
      .prepare<[string], string | null>('SELECT leases FROM sessions WHERE id = ?')
      .pluck();
    try {
      expect(leasesOf.get(record.id)).toBeNull();
      await store.setLease(record.id, 'job', T0 + 600_000, T0 + 1000);
      expect(JSON.parse(leasesOf.get(record.id) ?? 'null')).toEqual({ job: T0 + 600_000 });
      expect((await store.get(record.id))?.leases).toEqual({ job: T0 + 600_000 });
      await store.setLease(record.id, 'job', null, T0 + 2000);
      expect(leasesOf.get(record.id)).toBeNull();
    } finally {
      raw.close();
      await store.close();
    }
  });

  it('rejects every call after close() with StoreUnavailableError naming the file', async () => {
    const { path, store } = newStore();
    await store.close();
    await store.close(); // closing twice is harmless
    const calls: [string, () => Promise<unknown>][] = [
      ['ping', () => store.ping()],
      ['create', () => store.create(buildRecord('u', T0), {}, T0)],
      ['get', () => store.get('someid')],
      ['touch', () => store.touch('someid', T0)],
      ['setData', () => store.setData('someid', '{}', T0)],
      ['setLease', () => store.setLease('someid', 'l', null, T0)],
      ['revoke', () => store.revoke('someid', 'logout', T0)],
      ['revokeSubject', () => store.revokeSubject('u', 'logout', T0)],
      ['list', () => store.list('u', { limit: 5, cursor: null }, T0)],
      ['countActive', () => store.countActive(T0)],
      ['sweep', () => store.sweep(T0, 10, T0)],
      [
        'rotateRefresh',
        () => store.rotateRefresh('someid', 'h', { hash: 'h2', nonce: 'n' }, T0, 0),
      ],
      ['loadKeyring', () => store.loadKeyring()],
      ['saveKeyring', () => store.saveKeyring(0, '{}')],
      ['claimEvents', () => store.claimEvents(T0, 10, 1000)],
      ['ackEvents', () => store.ackEvents(['x'])],
    ];
    for (const [name, call] of calls) {
      const error = await call().catch((e: unknown) => e);
      expect(error, name).toBeInstanceOf(StoreUnavailableError);
      expect((error as Error).message, name).toContain(path);
    }
  });

  it('fails a write with StoreUnavailableError when another connection holds the lock past the busy timeout; reads go on', async () => {
    const { path, store } = newStore({ busyTimeoutMs: 50 });
    const existing = buildRecord('u', T0);
    await store.create(existing, {}, T0);
    const other = new Database(path);
    other.exec('BEGIN IMMEDIATE');
    try {
      const error = await store.create(buildRecord('u', T0), {}, T0).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect((error as Error).message).toContain(path);
      expect((error as Error).message).toContain('SQLITE_BUSY');
      expect(await store.get(existing.id)).toEqual(existing); // WAL: readers never wait
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    expect(await store.countActive(T0)).toBe(1); // the failed create left nothing behind
    await store.create(buildRecord('u', T0), {}, T0);
    expect(await store.countActive(T0)).toBe(2);
    await store.close();
  });

  it('rethrows programmer errors unchanged (a duplicate id is a bug, not an outage)', async () => {
    const { store } = newStore();
    const record = buildRecord('u', T0);
    await store.create(record, {}, T0);
    const error = await store.create(record, {}, T0).catch((e: unknown) => e);
    expect(error).not.toBeInstanceOf(StoreUnavailableError);
    expect((error as { code?: string }).code).toBe('SQLITE_CONSTRAINT_UNIQUE');
    await store.close();
  });

  it('sweeps in bounded batches and says when there is more', async () => {
    const { store } = newStore();
    await fill(store, 250);
    const now = T0 + 3_600_000;
    expect(await store.sweep(now, 100, 0)).toEqual({ expired: 100, purged: 0, more: true });
    expect(await store.sweep(now, 100, 0)).toEqual({ expired: 100, purged: 0, more: true });
    expect(await store.sweep(now, 100, 0)).toEqual({ expired: 50, purged: 0, more: false });
    expect(await store.sweep(now, 200, now)).toEqual({ expired: 0, purged: 200, more: true });
    expect(await store.sweep(now, 200, now)).toEqual({ expired: 0, purged: 50, more: false });
    expect(await store.countActive(T0)).toBe(0);
    await store.close();
  });

  it('lets other work in the process run between the transactions of one large sweep', async () => {
    const { store } = newStore();
    await fill(store, 1000);
    const probe = buildRecord('alive', T0, {
      idleTimeoutSeconds: 7200,
      absoluteTimeoutSeconds: 86_400,
    });
    await store.create(probe, {}, T0);
    const order: string[] = [];
    const sweep = store.sweep(T0 + 3_600_000, 10_000, 0).then((result) => {
      order.push('sweep finished');
      return result;
    });
    // Queued behind the sweep's first transaction, as a request arriving meanwhile would be.
    const validation = yieldToEventLoop().then(async () => {
      await store.get(probe.id);
      order.push('validation');
    });
    await Promise.all([sweep, validation]);
    expect(order).toEqual(['validation', 'sweep finished']);
    expect((await sweep).expired).toBe(1000);
    await store.close();
  });

  it('gives outbox events unique, time-ordered UUIDs', async () => {
    const { store } = newStore();
    await fill(store, 50);
    const events = await store.claimEvents(T0, 100, 1000);
    const ids = events.map((e) => e.id);
    expect(new Set(ids).size).toBe(50);
    for (const id of ids)
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    await store.ackEvents(ids.slice(0, 20));
    expect(await store.claimEvents(T0 + 2000, 100, 1000)).toHaveLength(30);
    await store.close();
  });
});
