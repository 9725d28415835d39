import type { CreateLimits } from 'sessionkeeper/internal/store';
import type { ShardClient } from './shard-client.js';

/** What create.lua needs to apply the global limit in the creating shard. */
export interface GlobalLimitPlan {
  /** Active sessions in every other shard, after the evictions below. */
  othersActive: number;
  /** Least recently active sessions of the creating shard that create.lua evicts. */
  localVictims: string[];
  /** Sessions of other shards already evicted for this creation. */
  remoteEvicted: string[];
  /** Every victim in global least-recently-active order, for the reported eviction order. */
  order: string[];
  /** Shards whose outbox got `evicted` events. */
  remoteShards: number[];
}

interface Candidate {
  id: string;
  shard: number;
  lastActiveAtMs: number;
  creationOrder: number;
}

/**
 * The global limit spans all shards, which no single script can see on Cluster. It is applied in
 * two steps:
 *
 * 1. Read: count the active sessions of every shard (ZCOUNT on each expiry index) and, when the
 *    policy is `evict` and the total has reached the cap, ask every shard for its least recently
 *    active candidates (oldest-active.lua, which also says how many of the new session's subject
 *    the per-subject limit will evict). From that snapshot pick the victims exactly as the memory
 *    store does.
 * 2. Write: revoke the victims of other shards (revoke.lua, each atomic and only if still active),
 *    then run create.lua in the creating shard with the other shards' remaining count; it evicts
 *    its own victims and, should the snapshot be stale, more of its own least recently active
 *    sessions, so the total it sees stays within the cap.
 *
 * Guarantee: with one creation at a time the result is what the memory store gives. Concurrent
 * creations in different shards each judge from their own snapshot, so the global total can
 * exceed the cap by at most the number of creations racing in other shards (and concurrent
 * evictions may pick a session touched since the snapshot). A crash between the steps leaves
 * sessions evicted (with their events) and the new one not created: never above the cap, never
 * an event for a change that did not happen. The per-subject limit is exact regardless: it is
 * decided inside create.lua alone.
 */
export async function planGlobalLimit(
  shards: ShardClient,
  shard: number,
  subject: string,
  subjectTag: string,
  limits: CreateLimits,
  nowMs: number,
): Promise<GlobalLimitPlan> {
  const counts = await shards.each((s) =>
    shards.call(() => shards.client.zcount(shards.keys(s).expiry, `(${nowMs}`, '+inf')),
  );
  const total = counts.reduce((sum, count) => sum + count, 0);
  const othersActive = total - (counts[shard] ?? 0);
  const plan: GlobalLimitPlan = {
    othersActive,
    localVictims: [],
    remoteEvicted: [],
    order: [],
    remoteShards: [],
  };
  const global = limits.global;
  if (!global || global.policy === 'refuse' || total < global.max) return plan;

  const perSubject = limits.perSubject;
  const wanted = total - global.max + 1;
  const replies = await shards.each(async (s) => {
    if (s !== shard && counts[s] === 0) return [0, 0];
    const args = s === shard ? [subject, subjectTag] : ['', ''];
    const reply = await shards.script('oldest-active', s, nowMs, null, [
      String(wanted),
      ...args,
      String(perSubject?.max ?? -1),
    ]);
    return Array.isArray(reply) ? reply : [0, 0];
  });

  const own = replies[shard] ?? [0, 0];
  if (perSubject?.policy === 'refuse' && Number(own[0]) >= perSubject.max) return plan;
  const needed = total - Number(own[1]) - global.max + 1;
  if (needed <= 0) return plan;

  const pool: Candidate[] = [];
  replies.forEach((reply, s) => {
    for (let k = 2; k + 2 < reply.length; k += 3) {
      pool.push({
        id: String(reply[k]),
        shard: s,
        lastActiveAtMs: Number(reply[k + 1]),
        creationOrder: Number(reply[k + 2]),
      });
    }
  });
  pool.sort(
    (a, b) =>
      a.lastActiveAtMs - b.lastActiveAtMs ||
      a.creationOrder - b.creationOrder ||
      (a.id < b.id ? -1 : 1),
  );
  const victims = pool.slice(0, needed);
  plan.order = victims.map((victim) => victim.id);
  plan.localVictims = victims.filter((v) => v.shard === shard).map((v) => v.id);

  const remote = new Map<number, string[]>();
  for (const victim of victims) {
    if (victim.shard !== shard)
      remote.set(victim.shard, [...(remote.get(victim.shard) ?? []), victim.id]);
  }
  const revoked = await Promise.all(
    [...remote].map(([s, ids]) =>
      shards.script('revoke', s, nowMs, null, ['evicted', 'evicted', ...ids]),
    ),
  );
  plan.remoteShards = [...remote.keys()];
  for (const reply of revoked) {
    if (!Array.isArray(reply)) continue;
    for (const record of reply) {
      if (Array.isArray(record) && typeof record[0] === 'string')
        plan.remoteEvicted.push(record[0]);
    }
  }
  plan.othersActive = othersActive - plan.remoteEvicted.length;
  return plan;
}
