import { describe, expect, it } from 'vitest';
import type {
  CreateLimits,
  SessionStore,
  StoredEvent,
} from '../../packages/sessionkeeper/src/core/store.js';
import { MemoryStore } from '../../packages/sessionkeeper/src/memory/memory-store.js';
import { createSqliteStore } from '../../packages/sessionkeeper/src/sqlite/index.js';
import { buildRecord } from './fixtures/records.js';
import { withTempDir } from './temp-dir.js';

const tempPath = withTempDir('same-as-memory');

/** mulberry32: a small seeded generator, so a failing sequence can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What kinds of answers the sequences produced, so the test can insist it covered them. */
const seen = new Set<string>();

function describeOutcome(value: unknown): string {
  if (value === null || typeof value !== 'object') return String(value);
  if (Array.isArray(value)) return value.length > 0 ? 'some' : 'none';
  const v = value as Record<string, unknown>;
  if ('ok' in v)
    return v.ok ? ((v.evictedIds as string[]).length > 0 ? 'ok+evicted' : 'ok') : 'refused';
  if ('purged' in v) return v.purged ? 'purged' : v.expired ? 'expired' : 'nothing';
  if ('nextCursor' in v) return v.nextCursor ? 'paged' : 'last';
  if ('kind' in v) return String(v.kind);
  return Object.keys(v.leases as object).length > 0 ? 'leased' : 'record';
}

/** Event ids are each store's own; everything else must match. */
function withoutIds(events: StoredEvent[]): Omit<StoredEvent, 'id'>[] {
  return events.map(({ id: _id, ...rest }) => rest);
}

/**
 * Runs one random sequence of operations against the memory store (the reference) and the SQLite
 * store, and requires every answer to be identical. Instants repeat often (the clock sometimes
 * stands still), so tie-breaks are exercised too.
 */
async function replay(seed: number, steps: number): Promise<void> {
  let nowMs = Date.UTC(2026, 0, 15, 10);
  const next = random(seed);
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;
  // Both stores read one store clock (the grace window runs on it), the sequence's own time.
  const storeClock = { now: () => nowMs };
  const memory = new MemoryStore({ clock: storeClock });
  const sqlite = createSqliteStore({ path: tempPath(`seed-${seed}.db`), clock: storeClock });
  const stores: [SessionStore, SessionStore] = [memory, sqlite];
  const both = <T>(op: (store: SessionStore) => Promise<T>) => Promise.all(stores.map(op));
  const ids: string[] = ['unknown-session-id'];
  /** Every refresh hash issued per session, so rotations present current, old and older ones. */
  const refreshHashes = new Map<string, string[]>();
  /** Sessions in the order of their rotations: the latest are likely still active. */
  const lastRotated: string[] = [];
  const subjects = ['ada', 'bob', 'cy'];
  const claimed: [string[], string[]] = [[], []];
  const cursors = new Map<string, string | null>();

  try {
    for (let step = 0; step < steps; step++) {
      if (next() < 0.6) nowMs += pick([0, 0, 250, 1000, 5000, 20_000]);
      const id = pick(ids);
      const subject = pick(subjects);
      const at = `seed ${seed} step ${step}`;
      // Random choices are drawn before `check`, whose callback runs once per store.
      const check = async <T>(label: string, op: (store: SessionStore) => Promise<T>) => {
        const [fromMemory, fromSqlite] = await both(op);
        expect(fromSqlite, `${at}: ${label}`).toEqual(fromMemory);
        seen.add(`${label}:${describeOutcome(fromMemory)}`);
        return fromMemory as T;
      };
      switch (int(12)) {
        case 0:
        case 1: {
          const refreshHash = next() < 0.7 ? `refresh-${step}` : undefined;
          const record = buildRecord(subject, nowMs, {
            idleTimeoutSeconds: pick([5, 12.5, 30, 60]),
            absoluteTimeoutSeconds: pick([40, 90, 300]),
            dataJson: JSON.stringify({ step }),
            ...(refreshHash === undefined ? {} : { refreshHash }),
          });
          const limits: CreateLimits = {};
          if (next() < 0.5)
            limits.perSubject = { max: 1 + int(3), policy: pick(['evict', 'refuse']) };
          if (next() < 0.3) limits.global = { max: 2 + int(5), policy: pick(['evict', 'refuse']) };
          const outcome = await check('create', (s) =>
            s.create({ ...record, leases: {} }, limits, nowMs),
          );
          if (outcome.ok) ids.push(record.id);
          if (outcome.ok && refreshHash) refreshHashes.set(record.id, [refreshHash]);
          break;
        }
        case 2:
          await check('get', (s) => s.get(id));
          break;
        case 3:
          await check('touch', (s) => s.touch(id, nowMs));
          break;
        case 4:
          await check('setData', (s) => s.setData(id, JSON.stringify({ at: nowMs }), nowMs));
          break;
        case 5: {
          const leaseId = pick(['l1', 'l2']);
          const until = next() < 0.3 ? null : nowMs + pick([1000, 30_000, 120_000]);
          await check('setLease', (s) => s.setLease(id, leaseId, until, nowMs));
          break;
        }
        case 6:
          if (next() < 0.7) await check('revoke', (s) => s.revoke(id, 'logout', nowMs));
          else await check('revokeSubject', (s) => s.revokeSubject(subject, 'admin', nowMs));
          break;
        case 7: {
          const cursor = next() < 0.5 ? (cursors.get(subject) ?? null) : null;
          const limit = 1 + int(3);
          const page = await check('list', (s) => s.list(subject, { limit, cursor }, nowMs));
          cursors.set(subject, page.nextCursor);
          await check('countActive', (s) => s.countActive(nowMs));
          break;
        }
        case 8:
          // A limit above the number of sessions: which subset a smaller limit picks is up to
          // each store (SQLite takes the earliest deadlines first).
          await check('sweep', (s) => s.sweep(nowMs, 1000, nowMs - 30_000));
          break;
        case 9: {
          const limit = 1 + int(6);
          const [fromMemory, fromSqlite] = await both((s) => s.claimEvents(nowMs, limit, 10_000));
          expect(withoutIds(fromSqlite ?? []), `${at}: claimEvents`).toEqual(
            withoutIds(fromMemory ?? []),
          );
          claimed[0].push(...(fromMemory ?? []).map((e) => e.id));
          claimed[1].push(...(fromSqlite ?? []).map((e) => e.id));
          break;
        }
        case 10: {
          // Mostly recently rotated sessions, presenting their current or previous token: the
          // replayed and reused answers need such a session, and are rare otherwise.
          const recent = lastRotated.slice(-3);
          const target = recent.length > 0 && next() < 0.7 ? pick(recent) : id;
          const issued = refreshHashes.get(target) ?? [];
          const current = issued.slice(-1);
          const presented = pick([
            ...issued,
            ...issued.slice(-2),
            ...current,
            ...current,
            'never-issued',
          ]);
          const rotation = { hash: `refresh-${step}`, nonce: `nonce-${step}` };
          const graceMs = pick([0, 5000, 60_000]);
          const outcome = await check('rotateRefresh', (s) =>
            s.rotateRefresh(target, presented, rotation, nowMs, graceMs),
          );
          if (outcome.kind !== 'rotated') break;
          issued.push(rotation.hash);
          lastRotated.push(target);
          if (next() < 0.5) {
            // The old token again a little later: a client retrying, or an attacker; sometimes
            // after its successor was used (then replayed within the grace window, else reused).
            if (next() < 0.7) {
              const used = { hash: `refresh-${step}-used`, nonce: `nonce-${step}-used` };
              const outcome = await check('rotateRefresh', (s) =>
                s.rotateRefresh(target, rotation.hash, used, nowMs, graceMs),
              );
              if (outcome.kind === 'rotated') issued.push(used.hash);
            }
            nowMs += pick([0, 1000, 6000, 6000]);
            const retryGraceMs = pick([0, 5000]);
            await check('rotateRefresh', (s) =>
              s.rotateRefresh(
                target,
                presented,
                { hash: 'retry', nonce: 'retry' },
                nowMs,
                retryGraceMs,
              ),
            );
          }
          break;
        }
        default: {
          // Acknowledge the same events (by position) in both stores.
          const count = int(claimed[0].length + 1);
          await Promise.all([
            memory.ackEvents(claimed[0].splice(0, count)),
            sqlite.ackEvents(claimed[1].splice(0, count)),
          ]);
        }
      }
    }
    // Finally every record and every remaining event must match.
    for (const id of ids)
      expect(await sqlite.get(id), `seed ${seed}: final ${id}`).toEqual(await memory.get(id));
    nowMs += 3_600_000;
    const [restMemory, restSqlite] = await both((s) => s.claimEvents(nowMs, 10_000, 1));
    expect(withoutIds(restSqlite ?? [])).toEqual(withoutIds(restMemory ?? []));
  } finally {
    await sqlite.close();
  }
}

describe('sqlite store answers exactly as the memory reference store', () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`random sequence with seed ${seed}`, () => replay(seed, 400));
  }

  it('covered every kind of answer (else the sequences above prove little)', () => {
    const expected = [
      'create:ok',
      'create:ok+evicted',
      'create:refused',
      'get:null',
      'get:leased',
      'touch:true',
      'touch:false',
      'setData:record',
      'setData:null',
      'setLease:leased',
      'setLease:null',
      'revoke:record',
      'revoke:null',
      'revokeSubject:some',
      'list:paged',
      'sweep:expired',
      'sweep:purged',
      'rotateRefresh:rotated',
      'rotateRefresh:replayed',
      'rotateRefresh:reused',
      'rotateRefresh:rejected',
    ];
    expect(expected.filter((kind) => !seen.has(kind))).toEqual([]);
  });
});
