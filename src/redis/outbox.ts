import { randomInt } from 'node:crypto';
import type { StoredEvent } from '../core/store.js';
import { allocate } from './fan-out.js';
import { ALL_SHARDS, outboxHintKey, shardHex, shardOfEventId } from './keys.js';
import { decodeEvent } from './record-codec.js';
import type { ShardClient } from './shard-client.js';

/** How often (real time) a claimer looks at every shard instead of only the hinted ones. */
const FULL_SCAN_INTERVAL_MS = 30_000;

/**
 * The event outbox. Events are appended inside the script that changes a session, to that
 * shard's outbox, so they are atomic with the change. Finding them must not cost a command per
 * shard on every poll (the engine polls each second), so every call that appended events then
 * bumps the shard's version in one hint hash. Claimers read the hint, work on the hinted shards,
 * and drop a shard from it once its outbox is empty and its version has not moved since they read
 * it (forget-outbox-shards.lua), so a concurrent append is never forgotten. A process that
 * crashes between appending and bumping leaves events no hint points to; a full scan of all
 * shards every 30 seconds (and on a claimer's first call) finds those and hints them again.
 */
export class Outbox {
  /** For claiming and acknowledging: background work with its own, longer deadline. */
  readonly #shards: ShardClient;
  /** For `appended`, which requests await: bounded by the request deadline. */
  readonly #requestShards: ShardClient;
  readonly #hintKey: string;
  #nextFullScanAt = 0;

  constructor(shards: ShardClient, requestShards: ShardClient = shards) {
    this.#shards = shards;
    this.#requestShards = requestShards;
    this.#hintKey = outboxHintKey(shards.prefix);
  }

  /** Bumps the hint after events were appended. Best effort: the full scan covers a failure. */
  async appended(shards: Iterable<number>): Promise<void> {
    const { client } = this.#requestShards;
    const unique = [...new Set(shards)];
    await this.#requestShards
      .call(() => Promise.all(unique.map((s) => client.hincrby(this.#hintKey, shardHex(s), 1))))
      .catch(() => {});
  }

  async claim(nowMs: number, limit: number, leaseMs: number): Promise<StoredEvent[]> {
    const fullScan = Date.now() >= this.#nextFullScanAt;
    if (fullScan) this.#nextFullScanAt = Date.now() + FULL_SCAN_INTERVAL_MS;
    const versions = fullScan ? null : await this.#hintedVersions();
    let candidates = versions ? [...versions.keys()] : [...ALL_SHARDS];
    const events: StoredEvent[] = [];
    // A concurrent claimer may take events this one counted; then it tries the shards that still
    // had events, so no claim comes back short while unheld events remain.
    for (let round = 0; round < 5 && events.length < limit && candidates.length > 0; round++) {
      const due = await this.#claimable(candidates, nowMs, leaseMs, round === 0 ? versions : null);
      if (round === 0 && fullScan) await this.appended(candidates.filter((_, k) => due[k]?.held));
      const budgets = allocate(
        due.map((d) => d.claimable),
        limit - events.length,
        randomInt(candidates.length),
      );
      const replies = await Promise.all(
        budgets.map((budget, k) =>
          budget === 0
            ? null
            : this.#shards.script('claim-events', candidates[k] ?? 0, nowMs, null, [
                String(budget),
                String(leaseMs),
              ]),
        ),
      );
      let short = false;
      replies.forEach((reply, k) => {
        const rows = Array.isArray(reply) ? reply : [];
        for (let j = 0; j + 2 < rows.length; j += 3) {
          events.push(decodeEvent(rows[j], rows[j + 1], rows[j + 2]));
        }
        if (rows.length / 3 < (budgets[k] ?? 0)) short = true;
      });
      if (!short) break;
      candidates = candidates.filter((_, k) => (due[k]?.claimable ?? 0) > 0);
    }
    // Within a shard the script returns events oldest first; across shards, order by event time.
    return events.sort((a, b) => a.atMs - b.atMs);
  }

  async #hintedVersions(): Promise<Map<number, string>> {
    const hint = await this.#shards.call(() => this.#shards.client.hgetall(this.#hintKey));
    const versions = new Map<number, string>();
    for (const [hex, version] of Object.entries(hint)) versions.set(parseInt(hex, 16), version);
    return versions;
  }

  /**
   * What each candidate shard's outbox holds: events claimable now, and whether it holds any
   * (waiting or claimed). Hinted shards found empty are dropped from the hint when their version
   * (read before this) has not moved.
   */
  async #claimable(
    candidates: readonly number[],
    nowMs: number,
    leaseMs: number,
    versions: Map<number, string> | null,
  ): Promise<{ claimable: number; held: boolean }[]> {
    const { client } = this.#shards;
    const states = await Promise.all(
      candidates.map((shard) => {
        const keys = this.#shards.keys(shard);
        return this.#shards.call(() =>
          Promise.all([
            client.llen(keys.outboxWaiting),
            client.zcard(keys.outboxClaimed),
            client.zcount(keys.outboxClaimed, '-inf', String(nowMs - leaseMs)),
          ]),
        );
      }),
    );
    const due = states.map(([waiting, claimed, stale]) => ({
      claimable: waiting + stale,
      held: waiting + claimed > 0,
    }));
    if (versions) {
      const empty = candidates.filter((_, k) => !due[k]?.held);
      if (empty.length > 0) {
        const pairs = empty.flatMap((shard) => [shardHex(shard), versions.get(shard) ?? '']);
        await this.#shards.scriptWithKeys('forget-outbox-shards', [this.#hintKey], pairs);
      }
    }
    return due;
  }

  async ack(ids: readonly string[]): Promise<void> {
    const byShard = new Map<number, string[]>();
    for (const id of ids) {
      const shard = shardOfEventId(id);
      if (shard !== null) byShard.set(shard, [...(byShard.get(shard) ?? []), id]);
    }
    const { client } = this.#shards;
    await Promise.all(
      [...byShard].map(([shard, shardIds]) => {
        const keys = this.#shards.keys(shard);
        // Payload first: a crash in between leaves a claim without payload, which claiming drops.
        return this.#shards.call(async () => {
          await client.hdel(keys.outbox, ...shardIds, ...shardIds.map((id) => `#${id}`));
          await client.zrem(keys.outboxClaimed, ...shardIds);
        });
      }),
    );
  }
}
