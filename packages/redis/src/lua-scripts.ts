import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Cluster, Redis } from 'ioredis';
import { replyErrorCode } from './store-errors.js';

export type RedisClient = Redis | Cluster;

export const SCRIPT_NAMES = [
  'create',
  'touch',
  'set-data',
  'patch-data',
  'set-lease',
  'revoke',
  'revoke-subject',
  'list',
  'oldest-active',
  'sweep',
  'claim-events',
  'settle-events',
  'rotate-refresh',
  'forget-outbox-shards',
  'save-keyring',
] as const;

/** Scripts that do not work on a shard, so lib.lua is not prepended. */
const WITHOUT_LIB: ReadonlySet<ScriptName> = new Set(['forget-outbox-shards', 'save-keyring']);

export type ScriptName = (typeof SCRIPT_NAMES)[number];

export interface LuaScript {
  readonly name: ScriptName;
  /** lib.lua (for shard scripts) followed by the script's own file. */
  readonly lua: string;
  readonly sha: string;
}

/** The .lua files ship beside `src` and `dist` in the package, so one path serves both. */
const LUA_DIRS = [new URL('../lua/', import.meta.url)];

let loaded: ReadonlyMap<ScriptName, LuaScript> | undefined;

/** Reads every script once per process. */
export function loadScripts(): ReadonlyMap<ScriptName, LuaScript> {
  if (loaded) return loaded;
  const dir = LUA_DIRS.find((candidate) => existsSync(new URL('lib.lua', candidate)));
  if (!dir) {
    const looked = LUA_DIRS.map((candidate) => fileURLToPath(candidate)).join(', ');
    throw new Error(`The Redis store's Lua scripts are missing; looked in ${looked}`);
  }
  const lib = readFileSync(new URL('lib.lua', dir), 'utf8');
  const scripts = new Map<ScriptName, LuaScript>();
  for (const name of SCRIPT_NAMES) {
    const own = readFileSync(new URL(`${name}.lua`, dir), 'utf8');
    const lua = WITHOUT_LIB.has(name) ? own : `${lib}\n${own}`;
    scripts.set(name, { name, lua, sha: createHash('sha1').update(lua).digest('hex') });
  }
  loaded = scripts;
  return scripts;
}

/**
 * Runs a script by SHA (EVALSHA). A server that does not know it yet (first use, restart,
 * failover, SCRIPT FLUSH) answers NOSCRIPT; then EVAL sends the text once, which also caches it.
 */
export async function runScript(
  client: RedisClient,
  script: LuaScript,
  keys: readonly string[],
  args: readonly string[],
): Promise<unknown> {
  try {
    return await client.evalsha(script.sha, keys.length, ...keys, ...args);
  } catch (error) {
    if (replyErrorCode(error) !== 'NOSCRIPT') throw error;
    return client.eval(script.lua, keys.length, ...keys, ...args);
  }
}
