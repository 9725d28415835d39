import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { generateApiKey, hashApiKey, isApiKeyHash } from '../server/api-key.js';
import type { StoreSpec } from '../server/store-url.js';
import { ConfigError } from './config-error.js';

export const API_KEY_HASH_FILE = 'api-key.sha256';

export type StoredApiKey =
  | { hash: string; path: string; generated: false }
  /** `key` is the clear key, to be shown once and then forgotten. */
  | { hash: string; path: string; generated: true; key: string };

/** The data directory: the SQLite file's directory, or ./data for the other stores. */
export function dataDirectory(spec: StoreSpec): string {
  return spec.kind === 'sqlite' ? dirname(spec.path) : './data';
}

/**
 * The API key hash kept in `dir`, or a new key whose hash is written there (mode 0600) when there
 * is none yet. The clear key is never written anywhere.
 */
export async function loadOrCreateApiKey(dir: string): Promise<StoredApiKey> {
  const path = join(dir, API_KEY_HASH_FILE);
  const existing = await readHash(path);
  if (existing !== undefined) return { hash: existing, path, generated: false };
  await mkdir(dir, { recursive: true });
  const key = generateApiKey();
  const hash = hashApiKey(key);
  try {
    // `wx`: if another instance created the file meanwhile, its key wins and ours is dropped.
    await writeFile(path, `${hash}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if (errorCode(error) !== 'EEXIST') throw error;
    const raced = await readHash(path);
    if (raced !== undefined) return { hash: raced, path, generated: false };
    throw error;
  }
  return { hash, path, generated: true, key };
}

async function readHash(path: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
  const hash = text.trim();
  if (!isApiKeyHash(hash)) {
    throw new ConfigError(
      `invalid ${path}: expected the SHA-256 of the API key as 64 hex characters; delete the file to generate a new key, or set --api-key`,
    );
  }
  return hash;
}

function errorCode(error: unknown): unknown {
  return error instanceof Error && 'code' in error ? error.code : undefined;
}
