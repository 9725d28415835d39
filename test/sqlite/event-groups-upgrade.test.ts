import Database from 'better-sqlite3';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createManualClock } from '../../packages/sessionkeeper/src/core/clock.js';
import { createSessionEngine } from '../../packages/sessionkeeper/src/core/engine.js';
import type { SessionEvent } from '../../packages/sessionkeeper/src/core/types.js';
import { createSqliteStore } from '../../packages/sessionkeeper/src/sqlite/index.js';
import { migrations } from '../../packages/sessionkeeper/src/sqlite/migrations.js';
import { buildRecord } from './fixtures/records.js';
import { withTempDir } from './temp-dir.js';

const tempPath = withTempDir('event-groups-upgrade');

/** A file as sessionkeeper wrote it before consumer groups: schema 2, one outbox for everyone. */
function writeVersion2File(path: string, nowMs: number): string[] {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.transaction(() => {
    migrations[0]?.up(db);
    migrations[1]?.up(db);
    db.pragma('user_version = 2');
  })();
  const { secretHash: _s, refresh: _r, ...snapshot } = buildRecord('old-user', nowMs);
  const insert = db.prepare(
    `INSERT INTO events (id, type, at, reason, session, attempts, claimed_at)
     VALUES (?, 'revoked', ?, 'logout', ?, ?, ?)`,
  );
  // One event never claimed, one claimed by a process that died before acknowledging it.
  insert.run('v2-waiting', nowMs, JSON.stringify(snapshot), 0, null);
  insert.run('v2-claimed', nowMs - 1000, JSON.stringify(snapshot), 2, nowMs - 500);
  db.close();
  return ['v2-claimed', 'v2-waiting'];
}

describe('upgrading an SQLite file to consumer groups (schema 3)', () => {
  it('delivers the events of the old outbox to the app and to the service, whichever claims first', async () => {
    const path = tempPath('v2.db');
    const clock = createManualClock();
    const oldIds = writeVersion2File(path, clock.now());
    const silent = pino({ level: 'silent' });
    const store = createSqliteStore({ path });
    // The service's group claims first after the upgrade, and acknowledges everything.
    const service = await createSessionEngine({ store, clock, background: false, logger: silent });
    const hooks: SessionEvent[] = [];
    service.onSessionEnded((event) => void hooks.push(event), { group: 'webhook-a' });
    expect(await service.deliverEvents()).toBe(2);
    expect(hooks.map((e) => e.id).sort()).toEqual(oldIds);
    // The app comes later; the old events waited for its (default) group.
    const app = await createSessionEngine({
      store: createSqliteStore({ path }),
      clock,
      background: false,
      logger: silent,
    });
    try {
      const cleaned: SessionEvent[] = [];
      app.onSessionEnded((event) => void cleaned.push(event));
      expect(await app.deliverEvents()).toBe(2);
      expect(cleaned.map((e) => e.id).sort()).toEqual(oldIds);
      expect(cleaned.find((e) => e.id === 'v2-waiting')).toMatchObject({
        type: 'revoked',
        reason: 'logout',
        session: { subject: 'old-user' },
      });
      // Every group has them now: the outbox lets them go, and new events still flow to both
      // (positions keep counting up after the old rows are deleted).
      const { session } = await app.create({ subject: 'new-user' });
      await app.revoke(session.id, 'logout');
      expect(await service.deliverEvents()).toBe(2);
      expect(await app.deliverEvents()).toBe(2);
      expect(hooks.map((e) => e.session.id).at(-1)).toBe(session.id);
      expect(cleaned.map((e) => e.session.id).at(-1)).toBe(session.id);
      const left = new Database(path, { readonly: true });
      const remaining = left.prepare<[], string>('SELECT id FROM events').pluck().all();
      left.close();
      expect(remaining.filter((id) => oldIds.includes(id))).toEqual([]);
    } finally {
      await app.close();
      await service.close();
    }
  });
});
