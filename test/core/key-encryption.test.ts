import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import {
  createManualClock,
  createSessionEngine,
  type SessionStore,
  ValidationError,
} from '../../packages/sessionkeeper/src/core/index.js';
import { createMemoryStore } from '../../packages/sessionkeeper/src/memory/index.js';

const SECRET = 'correct horse battery staple, 32+ chars';

function open(store: SessionStore, keyEncryptionSecret?: string) {
  return createSessionEngine({
    store,
    clock: createManualClock(),
    background: false,
    logger: pino({ level: 'silent' }),
    tokens: keyEncryptionSecret ? { keyEncryptionSecret } : {},
  });
}

async function keyringJson(store: SessionStore): Promise<string> {
  return (await store.loadKeyring())?.json ?? '';
}

describe('signing keys at rest', () => {
  it('stores private keys sealed when a key-encryption secret is set, and verifies after reopening', async () => {
    const store = createMemoryStore();
    const first = await open(store, SECRET);
    const { tokens } = await first.create({ subject: 'ada', tokens: true });
    const json = await keyringJson(store);
    expect(json).toContain('sealedPrivateJwk');
    expect(json).not.toContain('"d"'); // the private scalar of an OKP JWK
    const second = await open(store, SECRET);
    expect((await second.verifyAccessToken(tokens?.accessToken ?? '')).ok).toBe(true);
  });

  it('refuses to start without the secret, or with another one, naming the setting', async () => {
    for (const wrong of [undefined, `${SECRET} but different`]) {
      const store = createMemoryStore();
      await (await open(store, SECRET)).jwks();
      const error = await open(store, wrong).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field).toBe('tokens.keyEncryptionSecret');
    }
  });

  it('seals keys stored in clear once a secret is configured', async () => {
    const store = createMemoryStore();
    await (await open(store)).jwks();
    expect(await keyringJson(store)).toContain('"d"');
    await open(store, SECRET);
    expect(await keyringJson(store)).not.toContain('"d"');
  });

  it('refuses a secret shorter than 32 characters', async () => {
    await expect(open(createMemoryStore(), 'short')).rejects.toThrow(/keyEncryptionSecret/);
  });
});
