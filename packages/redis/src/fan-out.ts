/**
 * Shares `limit` units of work among shards: walking the shards from `start` (callers pick it at
 * random so no shard is always served last), each gets what it has due until the limit is used
 * up. Returns the budget per shard, indexed like `due`.
 */
export function allocate(due: readonly number[], limit: number, start: number): number[] {
  const budgets = due.map(() => 0);
  let left = Math.max(0, limit);
  for (let k = 0; k < due.length && left > 0; k++) {
    const shard = (start + k) % due.length;
    const share = Math.min(due[shard] ?? 0, left);
    budgets[shard] = share;
    left -= share;
  }
  return budgets;
}
