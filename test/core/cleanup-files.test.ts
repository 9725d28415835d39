import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createManualClock,
  type ManualClock,
} from '../../packages/sessionkeeper/src/core/clock.js';
import {
  createSessionEngine,
  type SessionEngine,
} from '../../packages/sessionkeeper/src/core/engine.js';
import { createSqliteStore } from '../../packages/sessionkeeper/src/sqlite/index.js';

type UploadData = { dir: string };

const root = await mkdtemp(join(tmpdir(), 'sk-cleanup-'));
afterAll(() => rm(root, { recursive: true, force: true }));

async function openEngine(file: string, clock: ManualClock): Promise<SessionEngine<UploadData>> {
  const engine = await createSessionEngine<UploadData>({
    store: createSqliteStore({ path: file }),
    clock,
    background: false,
    logger: pino({ level: 'silent' }),
    idleTimeoutSeconds: 60,
    limits: { perSubject: { max: 2 } },
  });
  // What an app does: delete what the session owned once it ends, however it ends.
  engine.onSessionEnded(async (event) => {
    await rm(event.session.data.dir, { recursive: true, force: true });
  });
  return engine;
}

async function upload(engine: SessionEngine<UploadData>, subject: string, name: string) {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'upload.bin'), Buffer.alloc(1024, 7));
  await writeFile(join(dir, 'result.txt'), 'processed');
  return { dir, ...(await engine.create({ subject, data: { dir } })) };
}

describe('cleanup hooks delete what a session owned', () => {
  it('on expiry, revocation and eviction', async () => {
    const clock = createManualClock();
    const engine = await openEngine(join(root, 'a.db'), clock);
    const expiring = await upload(engine, 'ann', 'expiring');
    const revoked = await upload(engine, 'bob', 'revoked');
    const evicted = await upload(engine, 'bob', 'evicted');
    clock.advance(30);
    await engine.renew(revoked.token);
    const kept = await upload(engine, 'bob', 'kept'); // third for bob: evicts the least recently active
    await engine.revoke(revoked.session.id);
    await engine.deliverEvents();
    expect(existsSync(evicted.dir)).toBe(false);
    expect(existsSync(revoked.dir)).toBe(false);
    expect(existsSync(expiring.dir)).toBe(true);
    clock.advance(31); // ann's session passes its idle timeout
    await engine.sweep();
    await engine.deliverEvents();
    expect(existsSync(expiring.dir)).toBe(false);
    expect(existsSync(kept.dir)).toBe(true);
    await engine.close();
  });

  it('even when the process stops between the expiry and the cleanup', async () => {
    const file = join(root, 'b.db');
    const clock = createManualClock();
    const first = await openEngine(file, clock);
    const owned = await upload(first, 'cat', 'crash');
    clock.advance(61);
    expect((await first.sweep()).expired).toBe(1); // recorded durably, but no hook ran yet
    await first.close();
    expect(existsSync(owned.dir)).toBe(true);

    const second = await openEngine(file, clock);
    await second.deliverEvents();
    expect(existsSync(owned.dir)).toBe(false);
    await second.close();
  });
});
