import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../packages/sessionkeeper/src/core/errors.js';
import { computeExpiresAtMs } from '../../packages/sessionkeeper/src/core/expiry.js';
import { ancestorKey } from '../../packages/sessionkeeper/src/core/refresh-rotation.js';
import type {
  RefreshOutcome,
  SessionRecord,
  StoredEvent,
} from '../../packages/sessionkeeper/src/core/store.js';
import { createSqliteStore } from '../../packages/sessionkeeper/src/sqlite/index.js';
import type { SqliteStore } from '../../packages/sessionkeeper/src/sqlite/sqlite-store.js';
import { FixtureProcess, startTogether } from './child-process.js';
import { buildRecord } from './fixtures/records.js';
import { withTempDir } from './temp-dir.js';

const tempPath = withTempDir('refresh');
const T0 = Date.UTC(2026, 0, 15, 10);
const GRACE_MS = 30_000;
const REUSED = 'refresh-token-reused';
// Long, distinctive hashes, so finding one in raw event JSON cannot be a coincidence.
const H0 = 'refresh-hash-zero-0000000000000';
const H1 = 'refresh-hash-one-11111111111111';
const H2 = 'refresh-hash-two-22222222222222';
let files = 0;

function newPath(): string {
  return tempPath(`refresh-${++files}.db`);
}

function newStore(options: { busyTimeoutMs?: number } = {}): { path: string; store: SqliteStore } {
  const path = newPath();
  return { path, store: createSqliteStore({ path, ...options }) };
}

async function withRefresh(store: SqliteStore, subject = 'u', nowMs = T0): Promise<SessionRecord> {
  const record = buildRecord(subject, nowMs, { refreshHash: H0 });
  await store.create(record, {}, nowMs);
  return record;
}

/** Every event in the outbox, oldest first, after checking none carries a hash. */
async function allEvents(store: SqliteStore): Promise<StoredEvent[]> {
  const events = await store.claimEvents(T0 + 86_400_000, 10_000, 1);
  for (const event of events) {
    expect(event.session).not.toHaveProperty('refresh');
    expect(event.session).not.toHaveProperty('secretHash');
  }
  return events;
}

function rawEventJson(path: string): string {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare<[], string>('SELECT session FROM events').pluck().all().join('\n');
  } finally {
    db.close();
  }
}

function snapshotOf(record: SessionRecord) {
  const { secretHash: _secretHash, refresh: _refresh, ...snapshot } = record;
  return snapshot;
}

describe('sqlite store: refresh tokens', () => {
  it('persists the refresh family given at creation, and null for sessions without one', async () => {
    const { path, store } = newStore();
    const record = await withRefresh(store);
    expect(record.refresh).toEqual({
      hash: H0,
      previousHash: null,
      nonce: '',
      rotatedAtMs: T0,
      previousNonce: '',
      ancestorKeys: [],
      committedAtMs: T0,
    });
    expect(await store.get(record.id)).toEqual(record);
    const plain = buildRecord('u', T0 + 1);
    await store.create(plain, {}, T0 + 1);
    expect(await store.get(plain.id)).toEqual({ ...plain, refresh: null });
    expect((await store.list('u', { limit: 10, cursor: null }, T0 + 1)).records).toEqual([
      plain,
      record,
    ]);
    await allEvents(store);
    expect(rawEventJson(path)).not.toContain(H0);
    await store.close();
  });

  it('rotates when the current token is presented: new family state, activity, deadline, one event', async () => {
    const { path, store } = newStore();
    const record = await withRefresh(store);
    // A lease that outlasts the idle window: the recomputed deadline must count it.
    await store.setLease(record.id, 'job', T0 + 90_000, T0 + 1000);
    const at = T0 + 10_000;
    const outcome = await store.rotateRefresh(
      record.id,
      H0,
      { hash: H1, nonce: 'n1' },
      at,
      GRACE_MS,
    );
    const rotated: SessionRecord = {
      ...record,
      leases: { job: T0 + 90_000 },
      lastActiveAtMs: at,
      expiresAtMs: T0 + 90_000 + 60_000,
      refresh: {
        hash: H1,
        previousHash: H0,
        nonce: 'n1',
        rotatedAtMs: at,
        previousNonce: '',
        ancestorKeys: [],
        committedAtMs: expect.any(Number),
      },
    };
    expect(rotated.expiresAtMs).toBe(computeExpiresAtMs(rotated));
    expect(outcome).toEqual({ kind: 'rotated', record: rotated });
    expect(await store.get(record.id)).toEqual(rotated);

    // The new token rotates in turn; the family remembers older tokens by a prefix of their hash.
    const later = T0 + 100_000; // after the lease ran out
    const second = await store.rotateRefresh(record.id, H1, { hash: H2, nonce: 'n2' }, later, 0);
    expect(second.kind).toBe('rotated');
    expect(second.record?.refresh).toEqual({
      hash: H2,
      previousHash: H1,
      nonce: 'n2',
      rotatedAtMs: later,
      previousNonce: 'n1',
      ancestorKeys: [ancestorKey(H0)],
      committedAtMs: expect.any(Number),
    });
    expect(second.record?.expiresAtMs).toBe(later + 60_000);
    // Like touch, a rotation leaves past leases stored (they no longer count); setLease drops them.
    expect(second.record?.leases).toEqual({ job: T0 + 90_000 });

    const events = await allEvents(store);
    expect(events.map((e) => [e.type, e.reason, e.atMs])).toEqual([
      ['created', null, T0],
      ['refresh.rotated', null, at],
      ['refresh.rotated', null, later],
    ]);
    expect(events[1]?.session).toEqual(snapshotOf(rotated));
    const raw = rawEventJson(path);
    for (const hash of [H0, H1, H2]) expect(raw).not.toContain(hash);
    await store.close();
  });

  it('answers replayed for the previous token at any time while its successor is unused, writing nothing', async () => {
    const { store } = newStore();
    const record = await withRefresh(store);
    const at = T0 + 10_000;
    const { record: rotated } = await store.rotateRefresh(
      record.id,
      H0,
      { hash: H1, nonce: 'n1' },
      at,
      GRACE_MS,
    );
    // Within the grace window and long after it: the successor was never used.
    for (const nowMs of [at, at + 1, at + GRACE_MS, at + GRACE_MS + 20_000]) {
      const outcome = await store.rotateRefresh(
        record.id,
        H0,
        { hash: 'unused', nonce: 'unused' },
        nowMs,
        GRACE_MS,
      );
      expect(outcome).toEqual({ kind: 'replayed', record: rotated });
    }
    expect(await store.get(record.id)).toEqual(rotated);
    expect((await allEvents(store)).map((e) => e.type)).toEqual(['created', 'refresh.rotated']);
    await store.close();
  });

  it('revokes only that session when a token comes back after its successor was used, past the grace window', async () => {
    const { store } = newStore();
    const record = await withRefresh(store);
    const sibling = await withRefresh(store);
    const at = T0 + 10_000;
    await store.rotateRefresh(record.id, H0, { hash: H1, nonce: 'n1' }, at, GRACE_MS);
    const used = await store.rotateRefresh(record.id, H1, { hash: H2, nonce: 'n2' }, at, GRACE_MS);
    // The grace window runs on the store's clock (Date.now() inside the transaction): let 5 ms
    // pass and give a 1 ms window.
    await new Promise((resolve) => setTimeout(resolve, 5));
    const reusedAt = at + 1;
    const outcome = await store.rotateRefresh(
      record.id,
      H0,
      { hash: 'unused', nonce: 'unused' },
      reusedAt,
      1,
    );
    const active: SessionRecord = {
      ...record,
      lastActiveAtMs: at,
      expiresAtMs: at + 60_000,
      refresh: used.record?.refresh ?? null,
    };
    const revoked: SessionRecord = {
      ...active,
      status: 'revoked',
      endReason: REUSED,
      endedAtMs: reusedAt,
    };
    expect(outcome).toEqual({ kind: 'reused', record: revoked });
    expect(await store.get(record.id)).toEqual(revoked);
    expect(await store.get(sibling.id)).toEqual(sibling);

    // `refresh.reused` (the session as it was) and then `revoked`, exactly as revoke() writes it.
    const events = await allEvents(store);
    expect(events.slice(4).map(({ id: _id, ...event }) => event)).toEqual([
      {
        type: 'refresh.reused',
        atMs: reusedAt,
        reason: REUSED,
        session: snapshotOf(active),
        attempts: 0,
      },
      {
        type: 'revoked',
        atMs: reusedAt,
        reason: REUSED,
        session: snapshotOf(revoked),
        attempts: 0,
      },
    ]);

    // The family is dead: even the current token is refused now, and it cannot be revoked twice.
    const after = await store.rotateRefresh(record.id, H2, { hash: 'n', nonce: 'n3' }, reusedAt, 0);
    expect(after).toEqual({ kind: 'rejected', record: revoked });
    expect(await store.revoke(record.id, 'logout', reusedAt)).toBeNull();
    await store.close();
  });

  it('runs the grace window on the store clock, read inside the write transaction', async () => {
    let storeNowMs = T0 + 10_000;
    const store = createSqliteStore({ path: newPath(), clock: { now: () => storeNowMs } });
    const record = await withRefresh(store);
    await store.rotateRefresh(record.id, H0, { hash: H1, nonce: 'n1' }, T0 + 10_000, GRACE_MS);
    // H1 used by a call whose engine clock reading is old (taken before it waited for the lock).
    const used = await store.rotateRefresh(record.id, H1, { hash: H2, nonce: 'n2' }, T0, GRACE_MS);
    expect(used.record?.refresh?.committedAtMs).toBe(T0 + 10_000);
    // The engine's clock says 50 s later; the store's, that the rotation just committed.
    const spare = { hash: 'x', nonce: 'x' };
    const late = await store.rotateRefresh(record.id, H0, spare, T0 + 50_000, GRACE_MS);
    expect(late.kind).toBe('replayed');
    storeNowMs += GRACE_MS + 1;
    const reused = await store.rotateRefresh(record.id, H0, spare, T0 + 10_000, GRACE_MS);
    expect(reused.kind).toBe('reused');
    await store.close();
  });

  it('rejects, writing nothing, unknown sessions, ended ones, those without a family, and unknown tokens', async () => {
    const { store } = newStore();
    const next = { hash: H2, nonce: 'n2' };
    const current = await withRefresh(store);
    const plain = buildRecord('u', T0);
    await store.create(plain, {}, T0);
    const revoked = await withRefresh(store);
    const revokedRecord = await store.revoke(revoked.id, 'logout', T0);
    const nowMs = T0 + 1000;

    expect(await store.rotateRefresh('unknown-session-id', H0, next, nowMs, GRACE_MS)).toEqual({
      kind: 'rejected',
      record: null,
    });
    expect(await store.rotateRefresh(plain.id, H0, next, nowMs, GRACE_MS)).toEqual({
      kind: 'rejected',
      record: plain,
    });
    expect(await store.rotateRefresh(revoked.id, H0, next, nowMs, GRACE_MS)).toEqual({
      kind: 'rejected',
      record: revokedRecord,
    });
    // Neither current nor previous (before the first rotation there is no previous token).
    expect(await store.rotateRefresh(current.id, H1, next, nowMs, GRACE_MS)).toEqual({
      kind: 'rejected',
      record: current,
    });
    // Past its deadline but not yet swept: not active, so the current token no longer rotates.
    expect(await store.rotateRefresh(current.id, H0, next, current.expiresAtMs, GRACE_MS)).toEqual({
      kind: 'rejected',
      record: current,
    });

    expect(await store.get(current.id)).toEqual(current);
    expect(await store.get(plain.id)).toEqual(plain);
    expect((await allEvents(store)).map((e) => e.type)).toEqual([
      'created',
      'created',
      'created',
      'revoked',
    ]);
    await store.close();
  });

  it('rotates exactly once when two stores on one file present the same token at once', async () => {
    const path = newPath();
    const stores = [createSqliteStore({ path }), createSqliteStore({ path })];
    const [a, b] = stores as [SqliteStore, SqliteStore];
    const record = await withRefresh(a);
    const nowMs = T0 + 5000;
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        (i % 2 === 0 ? a : b).rotateRefresh(
          record.id,
          H0,
          { hash: `next-${i}`, nonce: `n${i}` },
          nowMs,
          GRACE_MS,
        ),
      ),
    );
    const rotated = outcomes.filter((o) => o.kind === 'rotated');
    expect(rotated).toHaveLength(1);
    expect(outcomes.filter((o) => o.kind === 'replayed')).toHaveLength(9);
    const winner = rotated[0] as RefreshOutcome;
    // Every loser saw the winner's rotation, whichever connection it ran on.
    for (const outcome of outcomes) expect(outcome.record).toEqual(winner.record);
    expect(await b.get(record.id)).toEqual(winner.record);
    expect((await allEvents(b)).filter((e) => e.type === 'refresh.rotated')).toHaveLength(1);
    for (const store of stores) await store.close();
  });

  it('rotates each session exactly once when several processes present the same token at once', async () => {
    // Enough sessions that the children's loops overlap (with a few dozen, the first child to get
    // `go` finished them all before the others started).
    const SESSIONS = 1500;
    const path = newPath();
    const store = createSqliteStore({ path });
    const nowMs = Date.now(); // the children rotate at their own Date.now()
    const ids: string[] = [];
    for (let i = 0; i < SESSIONS; i++) ids.push((await withRefresh(store, `s${i % 4}`, nowMs)).id);
    await store.close();

    const labels = ['p1', 'p2', 'p3'];
    const fixtures = labels.map(
      (label) => new FixtureProcess('rotate-refresh.ts', [path, label, H0, ...ids]),
    );
    await startTogether(fixtures);
    const results = await Promise.all(
      fixtures.map((f) =>
        f.result<{ rotated: string[]; others: Partial<Record<RefreshOutcome['kind'], number>> }>(),
      ),
    );
    const winners = new Map<string, string>();
    results.forEach((result, i) => {
      for (const id of result.rotated) {
        expect(winners.has(id), id).toBe(false);
        winners.set(id, labels[i] as string);
      }
      expect(Object.keys(result.others).filter((kind) => kind !== 'replayed')).toEqual([]);
    });
    expect(winners.size).toBe(ids.length);
    const replayed = results.reduce((sum, r) => sum + (r.others.replayed ?? 0), 0);
    expect(replayed).toBe(ids.length * (labels.length - 1));

    const check = createSqliteStore({ path });
    for (const id of ids) {
      expect((await check.get(id))?.refresh?.hash).toBe(`next-${winners.get(id)}-${id}`);
    }
    const rotatedEvents = (await allEvents(check)).filter((e) => e.type === 'refresh.rotated');
    expect(rotatedEvents.map((e) => e.session.id).sort()).toEqual([...ids].sort());
    await check.close();
  });

  it('keeps refresh state and the keyring across closing and reopening the file', async () => {
    const path = newPath();
    const first = createSqliteStore({ path });
    const record = await withRefresh(first);
    const at = T0 + 10_000;
    const { record: rotated } = await first.rotateRefresh(
      record.id,
      H0,
      { hash: H1, nonce: 'n1' },
      at,
      GRACE_MS,
    );
    expect(await first.saveKeyring(0, '{"keys":["k1"]}')).toBe(true);
    await first.close();

    const second = createSqliteStore({ path });
    expect(await second.get(record.id)).toEqual(rotated);
    expect(await second.loadKeyring()).toEqual({ version: 1, json: '{"keys":["k1"]}' });
    // The reopened family still knows its previous token and when it was rotated.
    const replay = await second.rotateRefresh(
      record.id,
      H0,
      { hash: 'x', nonce: 'x' },
      at,
      GRACE_MS,
    );
    expect(replay).toEqual({ kind: 'replayed', record: rotated });
    const next = await second.rotateRefresh(record.id, H1, { hash: H2, nonce: 'n2' }, at + 1, 0);
    expect(next.kind).toBe('rotated');
    await second.close();
  });

  it('fails with StoreUnavailableError, having written nothing, when the lock is held past the busy timeout', async () => {
    const { path, store } = newStore({ busyTimeoutMs: 50 });
    const record = await withRefresh(store);
    expect(await store.saveKeyring(0, '{"v":1}')).toBe(true);
    const other = new Database(path);
    other.exec('BEGIN IMMEDIATE');
    try {
      for (const call of [
        () => store.rotateRefresh(record.id, H0, { hash: H1, nonce: 'n1' }, T0 + 1, GRACE_MS),
        () => store.saveKeyring(1, '{"v":2}'),
      ]) {
        const error = await call().catch((e: unknown) => e);
        expect(error).toBeInstanceOf(StoreUnavailableError);
        expect((error as Error).message).toContain(path);
        expect((error as Error).message).toContain('SQLITE_BUSY');
      }
      expect(await store.loadKeyring()).toEqual({ version: 1, json: '{"v":1}' }); // WAL: reads go on
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    expect(await store.get(record.id)).toEqual(record);
    expect(await store.loadKeyring()).toEqual({ version: 1, json: '{"v":1}' });
    expect((await allEvents(store)).map((e) => e.type)).toEqual(['created']);
    await store.close();
  });
});

describe('sqlite store: keyring', () => {
  it('is null before the first save, then saved as versions 1, 2… only from the version expected', async () => {
    const { store } = newStore();
    expect(await store.loadKeyring()).toBeNull();
    expect(await store.saveKeyring(1, '{"never":true}')).toBe(false); // nothing saved yet: 0
    expect(await store.loadKeyring()).toBeNull();
    expect(await store.saveKeyring(0, '{"keys":["a"]}')).toBe(true);
    expect(await store.loadKeyring()).toEqual({ version: 1, json: '{"keys":["a"]}' });
    expect(await store.saveKeyring(0, '{"stale":true}')).toBe(false);
    expect(await store.saveKeyring(2, '{"ahead":true}')).toBe(false);
    expect(await store.saveKeyring(1, '{"keys":["a","b"]}')).toBe(true);
    expect(await store.loadKeyring()).toEqual({ version: 2, json: '{"keys":["a","b"]}' });
    await store.close();
  });

  it('lets exactly one of two stores on one file save from the same expected version', async () => {
    const path = newPath();
    const stores = [createSqliteStore({ path }), createSqliteStore({ path })];
    for (let expected = 0; expected < 3; expected++) {
      const saved = await Promise.all(
        stores.map((store, i) =>
          store.saveKeyring(expected, `{"writer":${i},"round":${expected}}`),
        ),
      );
      expect(saved.filter(Boolean)).toHaveLength(1);
      const winner = saved.indexOf(true);
      for (const store of stores) {
        expect(await store.loadKeyring()).toEqual({
          version: expected + 1,
          json: `{"writer":${winner},"round":${expected}}`,
        });
      }
    }
    for (const store of stores) await store.close();
  });
});
