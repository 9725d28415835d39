import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createManualClock } from '../../packages/sessionkeeper/src/core/clock.js';
import { createSessionEngine } from '../../packages/sessionkeeper/src/core/engine.js';
import { createMemoryStore } from '../../packages/sessionkeeper/src/memory/index.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      raw.push(String(chunk));
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines, raw };
}

describe('logs', () => {
  it('record the lifecycle and failures with reasons, and never a token or secret', async () => {
    const { logger, lines, raw } = capture();
    const clock = createManualClock();
    const engine = await createSessionEngine({
      store: createMemoryStore(),
      clock,
      logger,
      background: false,
      idleTimeoutSeconds: 60,
    });
    const { token, session } = await engine.create({ subject: 'ada' });
    await engine.validate(token);
    await engine.validate(`${token.slice(0, -3)}AAA`);
    clock.advance(61);
    await engine.validate(token);
    await engine.sweep();
    await engine.deliverEvents();
    await engine.close();

    const messages = lines.map((l) => l.msg);
    expect(messages).toContain(
      'sessions are kept in process memory and are LOST on restart; use SQLite or Redis outside tests',
    );
    expect(lines).toContainEqual(
      expect.objectContaining({ msg: 'session created', sessionId: session.id, subject: 'ada' }),
    );
    expect(lines).toContainEqual(
      expect.objectContaining({ msg: 'session validation failed', reason: 'malformed' }),
    );
    expect(lines).toContainEqual(
      expect.objectContaining({ msg: 'session validation failed', reason: 'idle-expired' }),
    );
    expect(lines).toContainEqual(
      expect.objectContaining({ msg: 'session expired', reason: 'idle', ageSeconds: 60 }),
    );
    expect(lines).toContainEqual(
      expect.objectContaining({ msg: 'sweep finished', expired: 1, active: 0 }),
    );
    const secret = token.split('.')[1] as string;
    for (const line of raw) {
      expect(line).not.toContain(secret);
      expect(line).not.toContain('sks_');
    }
  });
});

describe('token logs', () => {
  it('record refusals and reuse with reasons, and never an access or refresh token', async () => {
    const { logger, lines, raw } = capture();
    logger.level = 'debug';
    const clock = createManualClock();
    const engine = await createSessionEngine({
      store: createMemoryStore(),
      clock,
      logger,
      background: false,
      tokens: { refreshGraceSeconds: 0.05 },
    });
    const { tokens, session } = await engine.create({ subject: 'ada', tokens: true });
    const first = tokens?.refreshToken ?? '';
    const next = await engine.refresh(first);
    await engine.refresh(next.ok ? next.tokens.refreshToken : ''); // the successor is used
    clock.advance(16);
    await new Promise((resolve) => setTimeout(resolve, 100)); // the store's clock, past the grace
    await engine.refresh(first); // reuse after the grace window: the session is revoked
    await engine.verifyAccessToken(tokens?.accessToken ?? '');
    await engine.deliverEvents();
    await engine.close();

    expect(lines).toContainEqual(
      expect.objectContaining({ msg: 'access-token signing key created', encrypted: false }),
    );
    expect(lines).toContainEqual(
      expect.objectContaining({ msg: 'refresh refused', reason: 'refresh-token-reused' }),
    );
    expect(lines).toContainEqual(
      expect.objectContaining({
        msg: 'rotated refresh token presented again: session revoked',
        sessionId: session.id,
      }),
    );
    const secrets = [first, next.ok ? next.tokens.refreshToken : '', tokens?.accessToken ?? '']
      .filter(Boolean)
      .map((t) => t.split('.').at(-1) as string);
    expect(secrets).toHaveLength(3);
    for (const line of raw) {
      for (const secret of secrets) expect(line).not.toContain(secret);
      expect(line).not.toContain('skr_');
    }
  });
});
