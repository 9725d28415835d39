import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Clock } from 'sessionkeeper/internal/clock';
import { ValidationError } from 'sessionkeeper/internal/errors';
import { checkPositiveInteger, checkSeconds, checkSubject } from 'sessionkeeper/internal/input';
import { defaultDetectors } from './detectors.js';
import type { Detector, SessionKind } from './kind.js';
import type { PoolStateStore } from './state-store.js';

/** Every duration of the pool is in seconds (fractions allowed), as in the rest of sessionkeeper. */
export interface SessionPoolOptions<S, State = unknown> {
  /** How sessions are made, checked and thrown away: `httpSessionKind(...)`, the browser kind, or the app's own. */
  kind: SessionKind<S, State>;
  /** Run in order on every answer a session sees; the first verdict wins. Default: `[detectors.status(), detectors.text()]`. */
  detectors?: Detector[];
  /** Persists each session's state so a restarted service resumes logged in. Default: none. */
  state?: PoolStateStore<State>;
  /** Sessions one key (account) may hold at once. Default 1. */
  sessionsPerKey?: number;
  /** Sessions the whole pool may hold at once; an idle session of another key is retired to make room. Default 50. */
  maxSessions?: number;
  /** How long `use` waits for a session (each attempt) before `PoolTimeoutError`. Default 30. */
  acquireTimeoutSeconds?: number;
  /**
   * Runs of one operation that meet an expired session before `use` gives up with
   * `UpstreamKeptExpiringError`. A rerun on a session that was already in service when the
   * previous expiry was seen (a sibling that expired unnoticed) is not counted; such runs are
   * bounded by `sessionsPerKey`. Default 3.
   */
  maxAttempts?: number;
  /** An idle session is probed when it has not been used or checked for this long. Default 20. */
  checkIntervalSeconds?: number;
  /** Each idle session is refreshed (kept alive upstream) this often. Default 120. */
  refreshIntervalSeconds?: number;
  /** A session is probed before it is handed out when it was idle at least this long. Default: never (the background check covers idle sessions). */
  probeAfterIdleSeconds?: number;
  /** A session older than this is replaced (rolling: the new one logs in before the old one goes). Default: no limit. */
  maxAgeSeconds?: number;
  /** A session is replaced after this many operations. Default: no limit. */
  maxUses?: number;
  /** Spreads intervals and ages by up to ± this fraction so sessions do not act in step. Default 0.1. */
  jitter?: number;
  /** A login (or resume) that takes longer is abandoned and counts as a failure. Default 60. */
  loginTimeoutSeconds?: number;
  /** After `failureThreshold` logins in a row fail, no login is tried for `cooldownSeconds`. Defaults 5 and 10. */
  breaker?: { failureThreshold?: number; cooldownSeconds?: number };
  /** Runs checks, refreshes and age limits on a timer (unref'd). Default true; tests call `maintain()`. */
  background?: boolean;
  /** The `pool` label of the metrics, and a field of every log line. Default `default`. */
  name?: string;
  /** A pino logger. Default: silent. Cookies and tokens are never logged. */
  logger?: Logger;
  /** A prom-client registry to register the pool's metrics in. Default: no metrics. */
  registry?: Registry;
  clock?: Clock;
}

export interface ResolvedPoolOptions {
  detectors: Detector[];
  sessionsPerKey: number;
  maxSessions: number;
  acquireTimeoutSeconds: number;
  maxAttempts: number;
  checkIntervalSeconds: number;
  refreshIntervalSeconds: number;
  probeAfterIdleSeconds: number | undefined;
  maxAgeSeconds: number | undefined;
  maxUses: number | undefined;
  jitter: number;
  loginTimeoutSeconds: number;
  failureThreshold: number;
  cooldownSeconds: number;
  background: boolean;
  name: string;
}

/** Checks every option and fills defaults; a wrong option throws `ValidationError` naming it. */
export function resolvePoolOptions<S, State>(
  options: SessionPoolOptions<S, State>,
): ResolvedPoolOptions {
  if (typeof options !== 'object' || options === null)
    throw new ValidationError('options', 'must be an object');
  const kind = options.kind as Partial<SessionKind<S, State>> | undefined;
  if (
    typeof kind !== 'object' ||
    kind === null ||
    typeof kind.create !== 'function' ||
    typeof kind.probe !== 'function' ||
    typeof kind.destroy !== 'function'
  ) {
    throw new ValidationError('kind', 'must be a session kind (create, probe, destroy)');
  }
  checkPositiveInteger(kind.concurrency, 'kind.concurrency', 10_000);
  if (options.detectors !== undefined) {
    if (!Array.isArray(options.detectors) || options.detectors.some((d) => typeof d !== 'function'))
      throw new ValidationError('detectors', 'must be an array of detector functions');
  }
  const jitter = options.jitter ?? 0.1;
  if (typeof jitter !== 'number' || !(jitter >= 0 && jitter < 1))
    throw new ValidationError('jitter', `must be a number from 0 to below 1, got ${jitter}`);
  const optional = (value: number | undefined, field: string) =>
    value === undefined ? undefined : checkSeconds(value, field);
  return {
    detectors: options.detectors ? [...options.detectors] : defaultDetectors(),
    sessionsPerKey: checkPositiveInteger(options.sessionsPerKey ?? 1, 'sessionsPerKey', 10_000),
    maxSessions: checkPositiveInteger(options.maxSessions ?? 50, 'maxSessions', 1_000_000),
    acquireTimeoutSeconds: checkSeconds(
      options.acquireTimeoutSeconds ?? 30,
      'acquireTimeoutSeconds',
    ),
    maxAttempts: checkPositiveInteger(options.maxAttempts ?? 3, 'maxAttempts', 100),
    checkIntervalSeconds: checkSeconds(options.checkIntervalSeconds ?? 20, 'checkIntervalSeconds'),
    refreshIntervalSeconds: checkSeconds(
      options.refreshIntervalSeconds ?? 120,
      'refreshIntervalSeconds',
    ),
    probeAfterIdleSeconds: optional(options.probeAfterIdleSeconds, 'probeAfterIdleSeconds'),
    maxAgeSeconds: optional(options.maxAgeSeconds, 'maxAgeSeconds'),
    maxUses:
      options.maxUses === undefined ? undefined : checkPositiveInteger(options.maxUses, 'maxUses'),
    jitter,
    loginTimeoutSeconds: checkSeconds(options.loginTimeoutSeconds ?? 60, 'loginTimeoutSeconds'),
    failureThreshold: checkPositiveInteger(
      options.breaker?.failureThreshold ?? 5,
      'breaker.failureThreshold',
      1000,
    ),
    cooldownSeconds: checkSeconds(
      options.breaker?.cooldownSeconds ?? 10,
      'breaker.cooldownSeconds',
    ),
    background: options.background ?? true,
    name: checkSubject(options.name ?? 'default', 'name'),
  };
}
