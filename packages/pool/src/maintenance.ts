import { performance } from 'node:perf_hooks';
import type { ExpiryPhase } from './events.js';
import { probeSession } from './expiry.js';
import { jitteredMs } from './jitter.js';
import type { ExpiryVerdict } from './kind.js';
import type { Logins } from './logins.js';
import type { PoolContext } from './pool-context.js';
import { type Entry, type Group, wornReason } from './session-state.js';
import type { SlotPersistence } from './slot-persistence.js';

/** Background probes and refreshes running at once, so a pool of many sessions does not flood the upstream. */
const MAX_BACKGROUND_TASKS = 8;

export interface MaintenanceSummary {
  /** Idle sessions probed. */
  checked: number;
  /** Idle sessions refreshed. */
  refreshed: number;
  /** Sessions past their age or use limit whose replacement started. */
  replacing: number;
}

/** What maintenance asks of the pool it runs in. */
export interface MaintenanceHooks<S> {
  /** Acts once on an expired session: logs it in again in place, or retires and replaces it. */
  onExpired(entry: Entry<S>, verdict: ExpiryVerdict, phase: ExpiryPhase): Promise<void> | undefined;
  /** Serves the callers waiting for `group`. */
  pump(group: Group<S>): void;
}

type CheckPhase = 'check' | 'refresh' | 'before-use';

/**
 * The background work on sessions: health checks of idle sessions, periodic refreshes, and the
 * rolling replacement of sessions past their age or use limit, on a timer or on demand.
 */
export class Maintenance<S, State> {
  readonly #ctx: PoolContext<S, State>;
  readonly #groups: ReadonlyMap<string, Group<S>>;
  readonly #logins: Logins<S, State>;
  readonly #persistence: SlotPersistence<S, State>;
  readonly #hooks: MaintenanceHooks<S>;
  /** Probes and refreshes running now. */
  #running = 0;
  #ticker: NodeJS.Timeout | undefined;

  constructor(
    ctx: PoolContext<S, State>,
    groups: ReadonlyMap<string, Group<S>>,
    logins: Logins<S, State>,
    persistence: SlotPersistence<S, State>,
    hooks: MaintenanceHooks<S>,
  ) {
    this.#ctx = ctx;
    this.#groups = groups;
    this.#logins = logins;
    this.#persistence = persistence;
    this.#hooks = hooks;
  }

  /** Calls `maintain` on an unref'd timer, several times per shortest interval (10 ms to 1 s). */
  startTimer(maintain: () => Promise<unknown>): void {
    const { options, logger } = this.#ctx;
    const shortest = Math.min(
      options.checkIntervalSeconds,
      options.refreshIntervalSeconds,
      options.maxAgeSeconds ?? Number.POSITIVE_INFINITY,
    );
    const tickMs = Math.min(1000, Math.max(10, (shortest * 1000) / 5));
    this.#ticker = setInterval(() => {
      maintain().catch((err: unknown) => logger.error({ err }, 'pool maintenance failed'));
    }, tickMs);
    this.#ticker.unref();
  }

  stopTimer(): void {
    if (this.#ticker) clearInterval(this.#ticker);
  }

  /** One pass over every session (the pool's `maintain`). */
  async run(): Promise<MaintenanceSummary> {
    const summary: MaintenanceSummary = { checked: 0, refreshed: 0, replacing: 0 };
    if (this.#ctx.isClosed()) return summary;
    const now = this.#ctx.clock.now();
    const { maxUses } = this.#ctx.options;
    const started: Promise<void>[] = [];
    for (const group of this.#groups.values()) {
      for (const slot of group.slots) {
        const entry = slot.entry;
        if (!entry || entry.busy || entry.retired) continue;
        if (entry.expired) {
          // Marked by an answer no operation claimed (a page event); act on it once idle.
          if (!entry.handled && entry.inUse === 0) {
            const refill = this.#hooks.onExpired(entry, entry.expired, 'operation');
            if (refill) started.push(refill);
          }
          continue;
        }
        const worn = wornReason(entry, now, maxUses);
        if (worn) {
          const fill = slot.filling ?? this.#logins.startRolling(slot, worn);
          if (fill) {
            summary.replacing++;
            started.push(fill);
          }
          continue;
        }
        if (entry.inUse > 0 || slot.filling || this.#running >= MAX_BACKGROUND_TASKS) continue;
        if (now - entry.lastRefreshedAtMs >= entry.refreshDelayMs) {
          summary.refreshed++;
          started.push(this.startCheck(entry, 'refresh'));
        } else if (
          now - Math.max(entry.lastUsedAtMs, entry.lastCheckedAtMs) >=
          entry.checkDelayMs
        ) {
          summary.checked++;
          started.push(this.startCheck(entry, 'check'));
        }
      }
    }
    await Promise.all(started);
    return summary;
  }

  /** Probes (or refreshes) `entry`, which is not handed out meanwhile. */
  startCheck(entry: Entry<S>, phase: CheckPhase): Promise<void> {
    entry.busy = true;
    this.#running++;
    const task = this.#check(entry, phase);
    this.#ctx.tasks.track(task);
    return task;
  }

  async #check(entry: Entry<S>, phase: CheckPhase): Promise<void> {
    const { kind, options, clock, logger } = this.#ctx;
    let verdict: ExpiryVerdict | undefined;
    let failed = false;
    try {
      verdict = await probeSession(kind, entry, phase === 'refresh' ? 'refresh' : 'check');
    } catch (err) {
      failed = true;
      logger.warn(
        { key: entry.slot.group.key, slotId: entry.slot.id, phase, err },
        'health check failed; the session stays in service',
      );
    }
    verdict ??= entry.expired;
    entry.busy = false;
    this.#running--;
    const now = clock.now();
    entry.lastCheckedAtMs = now;
    entry.checkDelayMs = jitteredMs(options.checkIntervalSeconds, options.jitter);
    if (phase === 'refresh') {
      entry.lastRefreshedAtMs = now;
      entry.refreshDelayMs = jitteredMs(options.refreshIntervalSeconds, options.jitter);
    }
    if (this.#ctx.isClosed() || entry.retired) return;
    if (verdict) {
      await this.#hooks.onExpired(entry, verdict, phase);
      return;
    }
    if (!failed) {
      entry.goodAtPerf = performance.now();
      this.#persistence.persist(entry.slot, entry); // a refresh may have rotated the cookies
    }
    this.#hooks.pump(entry.slot.group);
  }
}
