import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { Logger } from 'pino';
import type { Clock } from './clock.js';
import { ValidationError } from './errors.js';
import type { KeyEncryption } from './key-encryption.js';
import type { SessionStore } from './store.js';

/** The signing algorithm of every access token: Ed25519 signatures are deterministic, so one
 * rotation answered twice yields byte-identical tokens. */
export const ACCESS_TOKEN_ALG = 'EdDSA';

/** One signing key as the store keeps it (JSON). */
interface StoredKey {
  kid: string;
  createdAtMs: number;
  /** When it starts signing (absent in keyrings written before keys were published ahead). */
  activatesAtMs?: number;
  publicJwk: JWK;
  /** The private JWK in clear, when no key-encryption secret is configured. */
  privateJwk?: JWK;
  /** The private JWK sealed with the key-encryption secret. */
  sealedPrivateJwk?: string;
}

interface LoadedKey {
  kid: string;
  createdAtMs: number;
  activatesAtMs: number;
  publicJwk: JWK;
  publicKey: KeyObject;
  privateKey: KeyObject;
}

export interface KeyringSettings {
  /** Each key signs for this long before its successor takes over. */
  rotationIntervalMs: number;
  /** A replaced key stays published this long after its successor appeared (token lifetime + skew). */
  retainMs: number;
  encryption: KeyEncryption | null;
  /** How often the keyring is re-read, to see keys other instances made. */
  reloadIntervalMs: number;
}

/** The JSON Web Key Set that verifiers fetch (`/.well-known/jwks.json`). */
export interface JsonWebKeySet {
  keys: JWK[];
}

/**
 * The access-token signing keys, kept in the store so every instance signs with the same keys and
 * a restart loses none. Made on first use, rotated on a schedule (optimistic concurrency: when two
 * instances rotate at once one wins and the other adopts its key), and a replaced key stays in the
 * JWKS until every token it signed has expired.
 */
export class Keyring {
  #version = 0;
  #keys: LoadedKey[] = []; // newest first
  #loadedAtMs = Number.NEGATIVE_INFINITY;
  #loading: Promise<void> | null = null;

  constructor(
    readonly store: SessionStore,
    readonly clock: Clock,
    readonly logger: Logger,
    readonly settings: KeyringSettings,
  ) {}

  /**
   * Reads the stored keys at start-up, so a missing or wrong key-encryption secret refuses to start
   * (naming the setting) instead of failing the first refresh; seals keys stored in clear once a
   * secret is configured.
   */
  async open(): Promise<void> {
    await this.#reload();
    const document = await this.store.loadKeyring();
    if (!document || !this.settings.encryption) return;
    const stored = (JSON.parse(document.json) as { keys: StoredKey[] }).keys;
    if (stored.every((key) => key.sealedPrivateJwk !== undefined)) return;
    const json = JSON.stringify({ keys: this.#keys.map((key) => this.#export(key)) });
    if (await this.store.saveKeyring(document.version, json)) {
      this.#version = document.version + 1;
      this.logger.info(
        { keys: this.#keys.length },
        'signing keys stored in clear are now encrypted',
      );
    }
  }

  /** The key that signs tokens issued at `atMs`: the newest key made at or before then. */
  async signingKey(atMs: number): Promise<LoadedKey> {
    await this.#fresh();
    if (this.#rotationDue(this.clock.now())) await this.#rotate();
    const keys = this.#keys;
    const key = keys.find((k) => k.activatesAtMs <= atMs) ?? keys.at(-1);
    if (!key) throw new Error('keyring is empty after rotation'); // unreachable: #rotate adds one
    return key;
  }

  /** The public key with this id; re-reads the store once if it is unknown (another instance may have rotated). */
  async publicKey(kid: string): Promise<KeyObject | null> {
    await this.#fresh();
    let key = this.#keys.find((k) => k.kid === kid);
    if (!key) {
      await this.#reload();
      key = this.#keys.find((k) => k.kid === kid);
    }
    return key?.publicKey ?? null;
  }

  async jwks(): Promise<JsonWebKeySet> {
    await this.signingKey(this.clock.now()); // publishes a key even before the first token
    return {
      keys: this.#published(this.#keys, this.clock.now()).map((k) => ({
        ...k.publicJwk,
        kid: k.kid,
        alg: ACCESS_TOKEN_ALG,
        use: 'sig',
      })),
    };
  }

  /** The newest key and those replaced so recently that tokens they signed may still be valid. */
  #published(keys: LoadedKey[], nowMs: number): LoadedKey[] {
    return keys.filter((_key, i) => {
      const replacedAtMs = i === 0 ? nowMs : (keys[i - 1]?.activatesAtMs ?? nowMs);
      return replacedAtMs + this.settings.retainMs > nowMs;
    });
  }

  /** How far ahead of signing a new key is published: 10 minutes, less for very short intervals. */
  get #aheadMs(): number {
    return Math.min(600_000, this.settings.rotationIntervalMs / 2);
  }

  /** True when no key exists, or the newest should already be followed by a published successor. */
  #rotationDue(nowMs: number): boolean {
    const newest = this.#keys[0];
    return (
      !newest || newest.activatesAtMs + this.settings.rotationIntervalMs - this.#aheadMs <= nowMs
    );
  }

  async #fresh(): Promise<void> {
    if (this.clock.now() - this.#loadedAtMs >= this.settings.reloadIntervalMs) await this.#reload();
  }

  /** One read at a time: concurrent callers share it. */
  #reload(): Promise<void> {
    this.#loading ??= this.#read().finally(() => {
      this.#loading = null;
    });
    return this.#loading;
  }

  async #read(): Promise<void> {
    const document = await this.store.loadKeyring();
    this.#loadedAtMs = this.clock.now();
    if (!document || document.version === this.#version) return;
    const stored = (JSON.parse(document.json) as { keys: StoredKey[] }).keys;
    this.#keys = stored.map((key) => this.#import(key));
    this.#version = document.version;
  }

  async #rotate(): Promise<void> {
    for (;;) {
      const nowMs = this.clock.now();
      if (!this.#rotationDue(nowMs)) return;
      // The first key signs at once; a successor is published ahead of signing, so verifiers
      // holding a cached JWKS (the server sends max-age=300) know it before they meet it.
      const made = await this.#generate(
        nowMs,
        this.#keys.length === 0 ? nowMs : nowMs + this.#aheadMs,
      );
      const keys = [made, ...this.#published(this.#keys, nowMs)];
      const json = JSON.stringify({ keys: keys.map((key) => this.#export(key)) });
      if (await this.store.saveKeyring(this.#version, json)) {
        this.#keys = keys;
        this.#version += 1;
        this.logger.info(
          { kid: made.kid, published: keys.length, encrypted: this.settings.encryption !== null },
          'access-token signing key created',
        );
        return;
      }
      await this.#reload(); // another instance rotated first: adopt its key
    }
  }

  async #generate(nowMs: number, activatesAtMs: number): Promise<LoadedKey> {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const publicJwk = publicKey.export({ format: 'jwk' }) as JWK;
    return {
      kid: await calculateJwkThumbprint(publicJwk),
      createdAtMs: nowMs,
      activatesAtMs,
      publicJwk,
      publicKey,
      privateKey,
    };
  }

  #export(key: LoadedKey): StoredKey {
    const privateJson = JSON.stringify(key.privateKey.export({ format: 'jwk' }));
    const { encryption } = this.settings;
    return {
      kid: key.kid,
      createdAtMs: key.createdAtMs,
      activatesAtMs: key.activatesAtMs,
      publicJwk: key.publicJwk,
      ...(encryption
        ? { sealedPrivateJwk: encryption.seal(privateJson) }
        : { privateJwk: JSON.parse(privateJson) as JWK }),
    };
  }

  #import(stored: StoredKey): LoadedKey {
    const { encryption } = this.settings;
    let privateJwk = stored.privateJwk;
    if (stored.sealedPrivateJwk !== undefined) {
      if (!encryption) {
        throw new ValidationError(
          'tokens.keyEncryptionSecret',
          'the signing keys in the store are encrypted; configure the key-encryption secret they were sealed with',
        );
      }
      try {
        privateJwk = JSON.parse(encryption.open(stored.sealedPrivateJwk)) as JWK;
      } catch {
        throw new ValidationError(
          'tokens.keyEncryptionSecret',
          'does not decrypt the signing keys in the store; it is not the secret they were sealed with',
        );
      }
    }
    if (!privateJwk) throw new Error(`signing key ${stored.kid} has no private part`);
    return {
      kid: stored.kid,
      createdAtMs: stored.createdAtMs,
      activatesAtMs: stored.activatesAtMs ?? stored.createdAtMs,
      publicJwk: stored.publicJwk,
      publicKey: createPublicKey({ key: stored.publicJwk as never, format: 'jwk' }),
      privateKey: createPrivateKey({ key: privateJwk as never, format: 'jwk' }),
    };
  }
}
