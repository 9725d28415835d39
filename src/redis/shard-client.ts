import { ALL_SHARDS, newEventIdPrefix, type ShardKeys, sessionKey, shardKeys } from './keys.js';
import { type LuaScript, type RedisClient, runScript, type ScriptName } from './lua-scripts.js';
import { toStoreError } from './store-errors.js';

/**
 * The store's access to Redis: runs scripts on one shard with the common context (lib.lua's
 * ARGV[1..4]) and turns every connection failure into `StoreUnavailableError`.
 */
export class ShardClient {
  readonly #keys: ShardKeys[];

  constructor(
    readonly client: RedisClient,
    readonly prefix: string,
    readonly location: string,
    /** How long (ms) a session hash outlives its deadline: lib.lua's grace. */
    readonly graceMs: number,
    readonly scripts: ReadonlyMap<ScriptName, LuaScript>,
  ) {
    this.#keys = ALL_SHARDS.map((shard) => shardKeys(prefix, shard));
  }

  keys(shard: number): ShardKeys {
    const keys = this.#keys[shard];
    if (!keys) throw new RangeError(`No shard ${shard}`);
    return keys;
  }

  sessionKey(shard: number, id: string): string {
    return sessionKey(this.prefix, shard, id);
  }

  /** Runs a script that is not bound to a shard with its own keys and arguments. */
  scriptWithKeys(
    name: ScriptName,
    keys: readonly string[],
    args: readonly string[],
  ): Promise<unknown> {
    const script = this.scripts.get(name);
    if (!script) throw new Error(`No Lua script ${name}`);
    return this.call(() => runScript(this.client, script, keys, args));
  }

  /** Runs `name` on `shard`; `sessionId` adds that session's hash as KEYS[8]. */
  script(
    name: ScriptName,
    shard: number,
    nowMs: number,
    sessionId: string | null,
    args: readonly string[],
  ): Promise<unknown> {
    const script = this.scripts.get(name);
    if (!script) throw new Error(`No Lua script ${name}`);
    const keys = this.keys(shard);
    const allKeys =
      sessionId === null ? keys.indexes : [...keys.indexes, this.sessionKey(shard, sessionId)];
    const context = [keys.tag, String(nowMs), String(this.graceMs), newEventIdPrefix(shard)];
    return this.call(() => runScript(this.client, script, allKeys, [...context, ...args]));
  }

  /** Awaits a Redis call, mapping its failure (see toStoreError). */
  async call<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw toStoreError(error, this.location);
    }
  }

  /** Runs `run` for every shard at once; auto-pipelining batches the commands per server. */
  each<T>(run: (shard: number) => Promise<T>): Promise<T[]> {
    return Promise.all(ALL_SHARDS.map(run));
  }
}
