import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createSessionEngine } from '../../packages/sessionkeeper/src/core/engine.js';
import { createMemoryStore } from '../../packages/sessionkeeper/src/memory/index.js';

// Timers and Date are faked, so "3 seconds" of work takes no real time and the test cannot flake.
describe('holdWhile', () => {
  beforeEach(() => {
    vi.useFakeTimers({
      toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'],
    });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  async function setup(absoluteTimeoutSeconds = 3600) {
    const engine = await createSessionEngine({
      store: createMemoryStore(),
      background: false,
      logger: pino({ level: 'silent' }),
      idleTimeoutSeconds: 1,
      absoluteTimeoutSeconds,
    });
    const created = await engine.create({ subject: 'worker' });
    return { engine, ...created };
  }

  it('keeps a session valid through a 3 s job under a 1 s idle timeout, then expires it on schedule', async () => {
    const { engine, session, token } = await setup();
    const job = engine.holdWhile(
      session.id,
      () => new Promise<string>((resolve) => setTimeout(() => resolve('done'), 3000)),
    );
    for (let t = 0; t < 3000; t += 250) {
      await vi.advanceTimersByTimeAsync(250);
      const info = await engine.get(session.id);
      expect(info?.timing.idleRemainingSeconds, `at ${t + 250} ms`).toBeGreaterThan(0);
    }
    await expect(job).resolves.toBe('done');
    await vi.advanceTimersByTimeAsync(900);
    expect((await engine.validate(token)).ok).toBe(true); // validating is activity: idle restarts
    await vi.advanceTimersByTimeAsync(1000);
    const result = await engine.validate(token);
    expect(!result.ok && result.error.slug).toBe('session-expired');
    await engine.close();
  });

  it('does not hold a session past its absolute lifetime and aborts the work’s signal', async () => {
    const { engine, session, token } = await setup(2);
    let aborted = false;
    const job = engine.holdWhile(session.id, async (signal) => {
      await new Promise((resolve) => setTimeout(resolve, 5000));
      aborted = signal.aborted;
    });
    await vi.advanceTimersByTimeAsync(5000);
    await job;
    expect(aborted).toBe(true);
    const result = await engine.validate(token);
    expect(!result.ok && result.error.slug).toBe('session-lifetime-exceeded');
    await engine.close();
  });

  it('rejects with the specific reason when the session has already ended', async () => {
    const { engine, session } = await setup();
    await engine.revoke(session.id, 'logout');
    await expect(engine.holdWhile(session.id, Promise.resolve(1))).rejects.toMatchObject({
      slug: 'session-revoked',
    });
    await engine.close();
  });
});
