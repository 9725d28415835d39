import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createManualClock } from '../../packages/sessionkeeper/src/core/clock.js';
import { createSessionEngine } from '../../packages/sessionkeeper/src/core/engine.js';
import { ValidationError } from '../../packages/sessionkeeper/src/core/errors.js';
import { createMemoryStore } from '../../packages/sessionkeeper/src/memory/index.js';

describe('engine.touch(id)', () => {
  async function setup() {
    const clock = createManualClock(Date.parse('2026-01-15T10:00:00Z'));
    const engine = await createSessionEngine({
      store: createMemoryStore(),
      background: false,
      logger: pino({ level: 'silent' }),
      clock,
      idleTimeoutSeconds: 60,
      absoluteTimeoutSeconds: 300,
    });
    const { session } = await engine.create({ subject: 'u1' });
    return { engine, clock, id: session.id };
  }

  it('extends the idle deadline of an active session, and never past the absolute deadline', async () => {
    const { engine, clock, id } = await setup();
    for (let i = 0; i < 5; i++) {
      clock.advance(50);
      expect(await engine.touch(id)).toBe(true);
    }
    // 250 s in: idle would have ended at 60 s without the touches.
    expect((await engine.get(id))?.session.status).toBe('active');
    clock.advance(50.001);
    expect(await engine.touch(id)).toBe(false);
    expect((await engine.get(id))?.session.endReason).toBe('absolute');
    await engine.close();
  });

  it('answers false for an ended or unknown session and rejects a malformed id', async () => {
    const { engine, id } = await setup();
    await engine.revoke(id);
    expect(await engine.touch(id)).toBe(false);
    expect(await engine.touch('unknownsession00')).toBe(false);
    await expect(engine.touch('x')).rejects.toBeInstanceOf(ValidationError);
    await engine.close();
  });
});
