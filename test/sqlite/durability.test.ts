import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createSessionEngine } from '../../packages/sessionkeeper/src/core/engine.js';
import { createSqliteStore } from '../../packages/sessionkeeper/src/sqlite/index.js';
import { FixtureProcess } from './child-process.js';
import { withTempDir } from './temp-dir.js';

const tempPath = withTempDir('durability');

describe('sqlite durability', () => {
  it('keeps every session whose creation returned, after the process is killed with SIGKILL', async () => {
    const path = tempPath('killed.db');
    const child = new FixtureProcess('create-until-killed.ts', [path]);
    await child.line(299); // 300 sessions committed and reported; the child keeps creating
    const tokens = child.lines.slice(); // complete lines only: taken before the kill
    child.process.kill('SIGKILL');
    expect((await child.exited).signal).toBe('SIGKILL');

    const store = createSqliteStore({ path });
    const engine = await createSessionEngine({
      store,
      background: false,
      logger: pino({ level: 'silent' }),
    });
    try {
      for (const token of tokens) {
        const result = await engine.validate(token);
        expect(result.ok, token.slice(0, 30)).toBe(true);
        if (result.ok) expect(result.session.status).toBe('active');
      }
      // The created events were committed with the sessions: none lost to the kill.
      const events = await store.claimEvents(Date.now(), 100_000, 60_000);
      const created = new Set(events.filter((e) => e.type === 'created').map((e) => e.session.id));
      for (const token of tokens) {
        expect(created.has(token.slice(4, token.lastIndexOf('.')))).toBe(true);
      }
    } finally {
      await engine.close();
    }
  });
});
