import { StoreUnavailableError } from 'sessionkeeper/internal/errors';
import { ALL_SHARDS, newEventIdPrefix, type ShardKeys, sessionKey, shardKeys } from './keys.js';
import { type LuaScript, type RedisClient, runScript, type ScriptName } from './lua-scripts.js';
import { toStoreError } from './store-errors.js';

/** What ioredis rejects a command with when its own `commandTimeout` passes. */
const IOREDIS_TIMEOUT_MESSAGE = 'Command timed out';

/** Our own deadline on a call passed: Redis (or the way to it) hangs. */
class CallDeadlineExceeded extends Error {}

/**
 * The store's access to Redis: runs scripts on one shard with the common context (lib.lua's
 * ARGV[1..4]) and turns every connection failure into `StoreUnavailableError`.
 *
 * A hung Redis (SIGSTOP, a stalled network, a long-blocking command) keeps the connection open,
 * so nothing fails by itself: every call carries a deadline of `callTimeoutMs` from the moment it
 * is made. ioredis's own `commandTimeout` starts only when a command is written, and with
 * auto-pipelining a command waits until the batch before it settles, so a call behind a stuck
 * batch could take twice the timeout or more. Once a call misses its deadline the client counts
 * Redis as hung: further calls fail at once, except one at a time that is let through as a
 * probe, until one answers. A request that makes several store calls thus fails within one
 * deadline, not one per call.
 */
export class ShardClient {
  readonly #keys: ShardKeys[];
  /** A call missed its deadline and none has answered since. */
  #hung = false;
  /** A call is out testing whether the hung Redis answers again. */
  #probing = false;

  constructor(
    readonly client: RedisClient,
    readonly prefix: string,
    readonly location: string,
    /** How long (ms) a session hash outlives its deadline: lib.lua's grace. */
    readonly graceMs: number,
    readonly scripts: ReadonlyMap<ScriptName, LuaScript>,
    /** Longest a call may take, from when it is made until Redis answers. */
    readonly callTimeoutMs: number,
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

  /**
   * Awaits a Redis call within the call deadline, mapping its failure (see toStoreError). While
   * Redis counts as hung, rejects at once unless this call is the one probe allowed out.
   */
  async call<T>(run: () => Promise<T>): Promise<T> {
    if (!this.#hung) return this.#bounded(run);
    if (this.#probing) {
      throw new StoreUnavailableError(
        `The session store at ${this.location} did not answer within ${this.callTimeoutMs} ms; calls fail at once until it answers again`,
      );
    }
    this.#probing = true;
    try {
      return await this.#bounded(run);
    } finally {
      this.#probing = false;
    }
  }

  async #bounded<T>(run: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const work = Promise.resolve().then(run);
    const deadline = new Promise<never>((_, reject) => {
      // Timers run before I/O in each turn of the event loop: on a busy process the answer may
      // already be waiting on the socket. setImmediate lets that I/O be read first.
      timer = setTimeout(
        () => setImmediate(() => reject(new CallDeadlineExceeded())),
        this.callTimeoutMs,
      );
    });
    try {
      const value = await Promise.race([work, deadline]);
      this.#hung = false;
      return value;
    } catch (error) {
      const timedOut =
        error instanceof CallDeadlineExceeded ||
        (error instanceof Error && error.message === IOREDIS_TIMEOUT_MESSAGE);
      if (!timedOut) throw toStoreError(error, this.location);
      this.#hung = true;
      // The abandoned command settles later (answered or timed out by ioredis): nobody awaits it.
      work.catch(() => undefined);
      throw new StoreUnavailableError(
        `The session store at ${this.location} is unavailable: no answer within ${this.callTimeoutMs} ms`,
        { cause: error },
      );
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The same connection with a longer deadline and a hung-state of its own, for work no request
   * waits on (sweeping, claiming and acknowledging events): a sweep that is merely slow must
   * neither fail nor make the request path fail fast.
   */
  background(callTimeoutMs: number): ShardClient {
    return new ShardClient(
      this.client,
      this.prefix,
      this.location,
      this.graceMs,
      this.scripts,
      callTimeoutMs,
    );
  }

  /** Runs `run` for every shard at once; auto-pipelining batches the commands per server. */
  each<T>(run: (shard: number) => Promise<T>): Promise<T[]> {
    return Promise.all(ALL_SHARDS.map(run));
  }
}
