import { randomInt } from 'node:crypto';
import type { StoredEvent } from 'sessionkeeper/internal/store';
import { allocate } from './fan-out.js';
import { ALL_SHARDS, outboxGroupsKey, outboxHintKey, shardHex, shardOfEventId } from './keys.js';
import { decodeEvent } from './record-codec.js';
import type { ShardClient } from './shard-client.js';

/** How often (real time) a claimer looks at every shard instead of only the hinted ones. */
const FULL_SCAN_INTERVAL_MS = 30_000;
/** How often (the caller's clock) a claimer re-announces its group in the registry. */
const ANNOUNCE_INTERVAL_MS = 60_000;

/**
 * The event outbox, read by consumer groups. Events are appended inside the script that changes a
 * session, to that shard's log (`<tag>:evl`, see lib.lua), so they are atomic with the change.
 * Each group keeps its own cursor and claims in each shard; a registry hash
 * (`<prefix>{outbox}:groups`, group -> last claim in epoch ms) says which groups exist, so an event
 * is deleted only once every registered group is done with it (settle-events.lua).
 *
 * Finding events must not cost a command per shard on every poll (the engine polls each second),
 * so every call that appended events then bumps the shard's version in one hint hash. Claimers
 * read the hint, work on the hinted shards, and drop a shard from it once its log is empty and its
 * version has not moved since they read it (forget-outbox-shards.lua), so a concurrent append is
 * never forgotten. A process that crashes between appending and bumping leaves events no hint
 * points to; a full scan of all shards every 30 seconds (and on a group's first claim in this
 * process) finds those and hints them again.
 */
export class Outbox {
  /** For claiming and acknowledging: background work with its own, longer deadline. */
  readonly #shards: ShardClient;
  /** For `appended`, which requests await: bounded by the request deadline. */
  readonly #requestShards: ShardClient;
  readonly #hintKey: string;
  readonly #groupsKey: string;
  readonly #nextFullScanAt = new Map<string, number>();
  readonly #announcedAt = new Map<string, number>();

  constructor(shards: ShardClient, requestShards: ShardClient = shards) {
    this.#shards = shards;
    this.#requestShards = requestShards;
    this.#hintKey = outboxHintKey(shards.prefix);
    this.#groupsKey = outboxGroupsKey(shards.prefix);
  }

  /** Bumps the hint after events were appended. Best effort: the full scan covers a failure. */
  async appended(shards: Iterable<number>): Promise<void> {
    const { client } = this.#requestShards;
    const unique = [...new Set(shards)];
    await this.#requestShards
      .call(() => Promise.all(unique.map((s) => client.hincrby(this.#hintKey, shardHex(s), 1))))
      .catch(() => {});
  }

  async claim(
    nowMs: number,
    limit: number,
    leaseMs: number,
    group: string,
  ): Promise<StoredEvent[]> {
    await this.#announce(group, nowMs);
    const fullScan = Date.now() >= (this.#nextFullScanAt.get(group) ?? 0);
    if (fullScan) this.#nextFullScanAt.set(group, Date.now() + FULL_SCAN_INTERVAL_MS);
    const versions = fullScan ? null : await this.#hintedVersions();
    let candidates = versions ? [...versions.keys()] : [...ALL_SHARDS];
    const events: StoredEvent[] = [];
    // A concurrent claimer may take events this one counted; then it tries the shards that still
    // had events, so no claim comes back short while unheld events remain.
    for (let round = 0; round < 5 && events.length < limit && candidates.length > 0; round++) {
      const due = await this.#claimable(candidates, nowMs, group, round === 0 ? versions : null);
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
                group,
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

  /** Registers the group (first claim in this process, then at most once a minute). */
  async #announce(group: string, nowMs: number): Promise<void> {
    const last = this.#announcedAt.get(group);
    if (last !== undefined && nowMs >= last && nowMs - last < ANNOUNCE_INTERVAL_MS) return;
    await this.#shards.call(() => this.#shards.client.hset(this.#groupsKey, group, String(nowMs)));
    this.#announcedAt.set(group, nowMs);
  }

  async #hintedVersions(): Promise<Map<number, string>> {
    const hint = await this.#shards.call(() => this.#shards.client.hgetall(this.#hintKey));
    const versions = new Map<number, string>();
    for (const [hex, version] of Object.entries(hint)) versions.set(parseInt(hex, 16), version);
    return versions;
  }

  /**
   * What each candidate shard's outbox holds: events the group can claim now, and whether it
   * holds any event for any group. Hinted shards found empty are dropped from the hint when their
   * version (read before this) has not moved.
   */
  async #claimable(
    candidates: readonly number[],
    nowMs: number,
    group: string,
    versions: Map<number, string> | null,
  ): Promise<{ claimable: number; held: boolean }[]> {
    // Plain commands, not a script: a full scan sends one batch per shard, and 1024 scripts each
    // answered NOSCRIPT (then sent in full) after a restart would flood the connection.
    const { client } = this.#shards;
    const now = String(nowMs);
    const states = await Promise.all(
      candidates.map((shard) => {
        const keys = this.#shards.keys(shard);
        const { tag } = keys;
        return this.#shards.call(() =>
          Promise.all([
            client.hget(`${tag}:evk`, group),
            client.zcard(`${tag}:evl`),
            client.zcount(`${tag}:evc:${group}`, '-inf', now),
            client.llen(keys.outboxWaiting),
            client.zcard(keys.outboxClaimed),
          ]),
        );
      }),
    );
    // Then, where the log holds anything, how much of it lies past the group's cursor.
    const fresh = await Promise.all(
      states.map(([cursor, logged], k) =>
        logged === 0
          ? 0
          : this.#shards.call(() =>
              client.zcount(
                `${this.#shards.keys(candidates[k] ?? 0).tag}:evl`,
                `(${cursor ?? '0'}`,
                '+inf',
              ),
            ),
      ),
    );
    const due = states.map(([, logged, stale, waiting, claimed], k) => ({
      claimable: (fresh[k] ?? 0) + stale + waiting + claimed,
      held: logged + waiting + claimed > 0,
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

  async ack(ids: readonly string[], group: string, nowMs: number): Promise<void> {
    if (ids.length === 0) return;
    // Read after the claim of these events: every group registered before they were appended.
    const groups = await this.#registered();
    await Promise.all(
      [...byShard(ids)].map(([shard, shardIds]) =>
        this.#shards.script('settle-events', shard, nowMs, null, [
          group,
          '',
          String(groups.length),
          ...groups,
          ...shardIds,
        ]),
      ),
    );
  }

  async retry(ids: readonly string[], retryAtMs: number, group: string): Promise<void> {
    const { client } = this.#shards;
    await Promise.all(
      [...byShard(ids)].map(([shard, shardIds]) => {
        const claims = `${this.#shards.keys(shard).tag}:evc:${group}`;
        const pairs = shardIds.flatMap((id) => [String(retryAtMs), id]);
        // XX: an event acknowledged meanwhile is not claimed again.
        return this.#shards.call(() => client.zadd(claims, 'XX', ...pairs));
      }),
    );
  }

  async forget(seenBeforeMs: number, nowMs: number): Promise<string[]> {
    const seen = await this.#shards.call(() => this.#shards.client.hgetall(this.#groupsKey));
    const stale = Object.keys(seen).filter((group) => Number(seen[group]) < seenBeforeMs);
    if (stale.length > 0) {
      await this.#shards.call(() => this.#shards.client.hdel(this.#groupsKey, ...stale));
      for (const group of stale) this.#announcedAt.delete(group);
    }
    const groups = Object.keys(seen).filter((group) => !stale.includes(group));
    if (stale.length === 0 && groups.length > 0) return stale;
    // Settle the shards that hold events: forgotten groups' state goes, and what they alone
    // held (or, with no group left, what is older than the cutoff) is deleted.
    const shards = [...(await this.#hintedVersions()).keys()];
    await Promise.all(
      shards.map((shard) =>
        this.#shards.script('settle-events', shard, nowMs, null, [
          '',
          groups.length === 0 ? String(seenBeforeMs) : '',
          String(groups.length),
          ...groups,
        ]),
      ),
    );
    return stale;
  }

  async #registered(): Promise<string[]> {
    return this.#shards.call(() => this.#shards.client.hkeys(this.#groupsKey));
  }
}

function byShard(ids: readonly string[]): Map<number, string[]> {
  const grouped = new Map<number, string[]>();
  for (const id of ids) {
    const shard = shardOfEventId(id);
    if (shard !== null) grouped.set(shard, [...(grouped.get(shard) ?? []), id]);
  }
  return grouped;
}
