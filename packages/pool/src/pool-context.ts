import type { Logger } from 'pino';
import type { Clock } from 'sessionkeeper/internal/clock';
import type { PoolEmitter } from './events.js';
import type { SessionKind } from './kind.js';
import type { PoolMetrics } from './metrics.js';
import type { ResolvedPoolOptions } from './options.js';
import type { TaskTracker } from './task-tracker.js';

/** What the parts of one pool share: its kind, options, clock, logs, events, metrics and tasks. */
export interface PoolContext<S, State> {
  readonly kind: SessionKind<S, State>;
  readonly options: ResolvedPoolOptions;
  readonly clock: Clock;
  /** The pool's logger (with its `pool` and `kind` fields). */
  readonly logger: Logger;
  readonly events: PoolEmitter;
  readonly metrics: PoolMetrics;
  readonly tasks: TaskTracker;
  /** True from the moment `close` is called. */
  isClosed(): boolean;
}
