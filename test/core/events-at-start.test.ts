import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { expect, it } from 'vitest';
import { createSessionEngine } from '../../packages/sessionkeeper/src/core/engine.js';
import { newSessionRecord } from '../../packages/sessionkeeper/src/core/expiry.js';
import type { SessionEvent } from '../../packages/sessionkeeper/src/core/types.js';
import { createMemoryStore } from '../../packages/sessionkeeper/src/memory/index.js';

it('delivers an event waiting at start-up to a listener registered right after creation', async () => {
  const store = createMemoryStore();
  // An event left in the outbox, e.g. by an instance that crashed before delivering it.
  const record = newSessionRecord({
    id: 'waiting-session-1',
    subject: 'ada',
    secretHash: 'x',
    dataJson: '{}',
    nowMs: Date.now(),
    idleTimeoutSeconds: 60,
    absoluteTimeoutSeconds: 3600,
  });
  await store.create(record, {}, Date.now());
  // A store over the network: reading the keyring at start-up takes a while.
  const loadKeyring = store.loadKeyring.bind(store);
  store.loadKeyring = async () => {
    await sleep(100);
    return loadKeyring();
  };

  const engine = await createSessionEngine({ store, logger: pino({ level: 'silent' }) });
  const seen: SessionEvent[] = [];
  engine.on('created', (event) => {
    seen.push(event);
  });
  try {
    for (let i = 0; i < 100 && seen.length === 0; i++) await sleep(20);
    expect(seen.map((e) => e.session.id)).toEqual([record.id]);
  } finally {
    await engine.close();
  }
});
