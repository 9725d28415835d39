import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createSessionEngine } from '../../packages/sessionkeeper/src/core/engine.js';
import { createSqliteStore } from '../../packages/sessionkeeper/src/sqlite/index.js';
import { FixtureProcess } from './child-process.js';
import { withTempDir } from './temp-dir.js';

const tempPath = withTempDir('refresh-durability');

describe('refresh tokens survive a crash', () => {
  it('refreshes with the last token each session handed out before the process was SIGKILLed', async () => {
    const path = tempPath('killed.db');
    const child = new FixtureProcess('refresh-until-killed.ts', [path]);
    await child.line(199); // ten rotations of each of the 20 sessions committed and reported
    const lines = child.lines.slice(); // complete lines only: taken before the kill
    child.process.kill('SIGKILL');
    expect((await child.exited).signal).toBe('SIGKILL');

    const latest = new Map<string, { refresh: string; access: string }>();
    for (const line of lines) {
      const [index = '', refresh = '', access = ''] = line.split(' ');
      latest.set(index, { refresh, access });
    }
    expect(latest.size).toBe(20);

    const engine = await createSessionEngine({
      store: createSqliteStore({ path }),
      background: false,
      logger: pino({ level: 'silent' }),
    });
    try {
      for (const { refresh, access } of latest.values()) {
        // The signing key was persisted: tokens signed before the crash still verify.
        expect((await engine.verifyAccessToken(access)).ok).toBe(true);
        // The kill may have landed after one more rotation was committed but before it was
        // printed: that token is then the previous one, answered within the grace window.
        const result = await engine.refresh(refresh);
        expect(result.ok ? 'ok' : result.error.message).toBe('ok');
      }
    } finally {
      await engine.close();
    }
  });
});
