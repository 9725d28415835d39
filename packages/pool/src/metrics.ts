import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { ExpiryPhase } from './events.js';

/** What a gauge reads from a live pool when Prometheus scrapes. */
export interface PoolGaugeSource {
  readonly name: string;
  healthyCount(): number;
  inUseCount(): number;
  waitingCount(): number;
}

/** The counters a pool updates as things happen; gauges are read at scrape time. */
export interface PoolMetrics {
  replaced(reason: string): void;
  expiryDetected(phase: ExpiryPhase): void;
  login(result: 'ok' | 'resumed' | 'failed'): void;
  recovery(seconds: number): void;
  detach(): void;
}

interface SharedMetrics {
  sources: Set<PoolGaugeSource>;
  replaced: Counter<'pool' | 'reason'>;
  expiries: Counter<'pool' | 'phase'>;
  logins: Counter<'pool' | 'result'>;
  recovery: Histogram<'pool'>;
}

// One set of metrics per registry, shared by the pools registered in it (told apart by `pool`).
const byRegistry = new WeakMap<Registry, SharedMetrics>();

export function createPoolMetrics(
  registry: Registry | undefined,
  source: PoolGaugeSource,
): PoolMetrics {
  if (!registry) {
    const none = () => {};
    return { replaced: none, expiryDetected: none, login: none, recovery: none, detach: none };
  }
  let shared = byRegistry.get(registry);
  if (!shared) {
    shared = register(registry);
    byRegistry.set(registry, shared);
  }
  const metrics = shared;
  metrics.sources.add(source);
  const pool = source.name;
  return {
    replaced: (reason) => metrics.replaced.inc({ pool, reason }),
    expiryDetected: (phase) => metrics.expiries.inc({ pool, phase }),
    login: (result) => metrics.logins.inc({ pool, result }),
    recovery: (seconds) => metrics.recovery.observe({ pool }, seconds),
    detach: () => metrics.sources.delete(source),
  };
}

function register(registry: Registry): SharedMetrics {
  const sources = new Set<PoolGaugeSource>();
  const gauge = (name: string, help: string, read: (source: PoolGaugeSource) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['pool'],
      registers: [registry],
      collect() {
        this.reset();
        for (const source of sources) this.set({ pool: source.name }, read(source));
      },
    });
  gauge(
    'sessionkeeper_pool_sessions_healthy',
    'Upstream sessions logged in and not known to be expired (in use or idle).',
    (s) => s.healthyCount(),
  );
  gauge(
    'sessionkeeper_pool_sessions_in_use',
    'Upstream sessions running at least one operation.',
    (s) => s.inUseCount(),
  );
  gauge('sessionkeeper_pool_waiting', 'Operations waiting for an upstream session.', (s) =>
    s.waitingCount(),
  );
  return {
    sources,
    replaced: new Counter({
      name: 'sessionkeeper_pool_sessions_replaced_total',
      help: 'Upstream sessions replaced by a new one, by reason (expired, max-age, max-uses).',
      labelNames: ['pool', 'reason'],
      registers: [registry],
    }),
    expiries: new Counter({
      name: 'sessionkeeper_pool_expiries_detected_total',
      help: 'Upstream sessions found logged out, by where (operation, check, refresh, before-use, resume).',
      labelNames: ['pool', 'phase'],
      registers: [registry],
    }),
    logins: new Counter({
      name: 'sessionkeeper_pool_logins_total',
      help: 'Attempts to make an upstream session, by result (ok, resumed, failed).',
      labelNames: ['pool', 'result'],
      registers: [registry],
    }),
    recovery: new Histogram({
      name: 'sessionkeeper_pool_recovery_seconds',
      help: 'From detecting an expired session in an operation to the operation running again.',
      labelNames: ['pool'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
  };
}
