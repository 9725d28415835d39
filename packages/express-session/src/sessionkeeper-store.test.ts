import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createSessionEngine, type SessionEngine } from '../../sessionkeeper/src/core/engine.js';
import { ValidationError } from '../../sessionkeeper/src/core/errors.js';
import { createMemoryStore } from '../../sessionkeeper/src/memory/index.js';
import { SessionkeeperStore } from './sessionkeeper-store.js';

describe('SessionkeeperStore options', () => {
  let engine: SessionEngine;
  afterEach(async () => {
    await engine.close();
  });

  async function open() {
    engine = await createSessionEngine({
      store: createMemoryStore(),
      background: false,
      logger: pino({ level: 'silent' }),
    });
    return engine;
  }

  it.each([
    [{ userField: '' }, 'userField'],
    [{ userField: 42 }, 'userField'],
    [{ absoluteTimeoutSeconds: 0 }, 'absoluteTimeoutSeconds'],
    [{ idleTimeoutSeconds: -1 }, 'idleTimeoutSeconds'],
    [{ cacheSize: 1.5 }, 'cacheSize'],
  ])('rejects %o naming %s', async (options, field) => {
    const e = await open();
    expect(() => new SessionkeeperStore(e, options as never)).toThrow(
      expect.objectContaining({ name: 'ValidationError', field }),
    );
  });

  it('rejects a user that is not a non-empty string or number', async () => {
    const store = new SessionkeeperStore(await open());
    await expect(store.listUserSessions('')).rejects.toBeInstanceOf(ValidationError);
    await expect(store.revokeUser(Number.NaN)).rejects.toBeInstanceOf(ValidationError);
  });
});
