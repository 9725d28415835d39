import { performance } from 'node:perf_hooks';
import type { PoolContext } from './pool-context.js';
import type { Entry } from './session-state.js';

/** How an operation that met an expired session got going again. */
export interface Recovery {
  /** From the detection (a `performance.now()` time) to the rerun starting. */
  recoveryMs: number;
  /** The part of it spent waiting for the new login. */
  loginMs: number;
}

/** The recovery of a rerun starting now on `entry`, after an expiry detected at `detectedAt`. */
export function recoveryOf(entry: Entry<unknown>, detectedAt: number): Recovery {
  const now = performance.now();
  const loginMs =
    entry.readyAtPerf > detectedAt ? Math.min(entry.createMs, entry.readyAtPerf - detectedAt) : 0;
  return { recoveryMs: now - detectedAt, loginMs };
}

/** Records (metric, log, event `recovered`) a rerun on `entry` that succeeded after `attempts` runs. */
export function reportRecovery<S, State>(
  ctx: PoolContext<S, State>,
  entry: Entry<S>,
  attempts: number,
  { recoveryMs, loginMs }: Recovery,
): void {
  const key = entry.slot.group.key;
  entry.slot.group.recoveries++;
  ctx.metrics.recovery(recoveryMs / 1000);
  ctx.logger.info(
    { key, slotId: entry.slot.id, attempts, recoveryMs, loginMs },
    `recovered in ${Math.round(recoveryMs)} ms`,
  );
  ctx.events.emit('recovered', { key, slotId: entry.slot.id, attempts, recoveryMs, loginMs });
}
