import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { FakeUpstream } from '../../examples/shared/fake-upstream.js';
import {
  createSessionPool,
  engineStateStore,
  type HttpSession,
  type PoolEvents,
} from '../../packages/pool/src/index.js';
import { createSessionEngine } from '../../packages/sessionkeeper/src/core/engine.js';
import { PayloadTooLargeError } from '../../packages/sessionkeeper/src/core/errors.js';
import { createSqliteStore } from '../../packages/sessionkeeper/src/sqlite/index.js';
import { withTempDir } from '../sqlite/temp-dir.js';
import { signedInAs, siteKind, startSite } from './http-site.js';

const file = withTempDir('pool-state');
const silent = pino({ level: 'silent' });

async function accountOf(session: HttpSession): Promise<string | undefined> {
  return signedInAs(await (await session.fetch('/account')).text());
}

/** One run of a service: an engine on the SQLite file and a pool persisting into it. */
async function service(site: FakeUpstream, path: string, maxDataBytes?: number) {
  const engine = await createSessionEngine({
    store: createSqliteStore({ path }),
    background: false,
    logger: silent,
    ...(maxDataBytes === undefined ? {} : { maxDataBytes }),
  });
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
        done();
      },
    }),
  );
  const pool = createSessionPool({
    kind: siteKind(site),
    state: engineStateStore(engine, { namespace: 'appointments' }),
    background: false,
    logger,
  });
  const events: { name: string; event: unknown }[] = [];
  for (const name of ['created', 'expired', 'state-error'] as const) {
    pool.on(name, (event: PoolEvents[typeof name]) => events.push({ name, event }));
  }
  return {
    engine,
    pool,
    events,
    lines,
    async stop() {
      await pool.close();
      await engine.close();
    },
  };
}

describe('persisted state (SQLite through the engine)', () => {
  it('a restarted pool resumes from the persisted cookies without a new login, probing them before first use', async () => {
    const site = await startSite();
    const path = file('resume.db');
    const first = await service(site, path);
    expect(await first.pool.use('alice', accountOf)).toBe('alice');
    expect((await first.engine.list('pool:appointments:alice')).sessions).toHaveLength(1);
    await first.stop();
    expect(site.stats().logins).toBe(1);

    const second = await service(site, path);
    const probesBefore = site.requestsTo('/account');
    const answer = await second.pool.use('alice', async (session) => {
      // The probe ran before the operation got the session.
      expect(site.requestsTo('/account')).toBe(probesBefore + 1);
      return accountOf(session);
    });
    expect(answer).toBe('alice');
    expect(site.stats().logins).toBe(1);
    expect(second.events).toEqual([
      { name: 'created', event: expect.objectContaining({ key: 'alice', resumed: true }) },
    ]);
    await second.stop();
  });

  it('stale persisted state is probed, found expired, logged in again; the operation never sees it', async () => {
    const site = await startSite();
    const path = file('stale.db');
    const first = await service(site, path);
    await first.pool.use('alice', accountOf);
    await first.stop();
    site.expireSessions(); // the upstream forgot the session while the service was down

    const second = await service(site, path);
    const attempts: number[] = [];
    const answer = await second.pool.use('alice', async (session, { attempt }) => {
      attempts.push(attempt);
      return accountOf(session);
    });
    expect(answer).toBe('alice');
    expect(attempts).toEqual([1]);
    expect(site.stats().logins).toBe(2);
    expect(second.events.map((e) => e.name)).toEqual(['expired', 'created']);
    expect(second.events[0]?.event).toMatchObject({ phase: 'resume' });
    expect(second.events[1]?.event).toMatchObject({ resumed: false });
    await second.stop();

    // The fresh cookies replaced the stale ones: a third run resumes without a login.
    const third = await service(site, path);
    expect(await third.pool.use('alice', accountOf)).toBe('alice');
    expect(site.stats().logins).toBe(2);
    await third.stop();
  });

  it('a state larger than the store allows is reported (event and error log), never dropped silently', async () => {
    const site = await startSite();
    const run = await service(site, file('large.db'), 64);
    let cookie = '';
    expect(
      await run.pool.use('alice', async (session) => {
        cookie = (await session.jar.getCookieString(site.url)).split('=')[1] ?? '';
        return accountOf(session);
      }),
    ).toBe('alice');
    await run.stop();
    const errors = run.events.filter((e) => e.name === 'state-error');
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(errors[0]?.event).toMatchObject({ key: 'alice', slotId: '0', operation: 'save' });
    expect((errors[0]?.event as PoolEvents['state-error'] | undefined)?.error).toBeInstanceOf(
      PayloadTooLargeError,
    );
    const logged = run.lines.find((line) => line.msg === 'session state save failed');
    expect(logged).toMatchObject({ level: 50, key: 'alice' });
    // Cookies never reach the logs.
    expect(cookie.length).toBeGreaterThan(10);
    expect(JSON.stringify(run.lines)).not.toContain(cookie);
  });
});
