import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { SessionEngine } from 'sessionkeeper/internal/engine';
import type { EventListener } from 'sessionkeeper/internal/event-dispatcher';
import type { SessionStore } from 'sessionkeeper/internal/store';

/**
 * The Prometheus metrics of one app, in a registry of its own (never prom-client's global one),
 * so several apps in one process do not collide.
 */
export interface ServerMetrics {
  readonly registry: Registry;
  readonly validations: Counter<'result'>;
  readonly refreshes: Counter<'result'>;
  readonly expirations: Counter<'reason'>;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly storeDuration: Histogram<'operation'>;
}

export interface ServerMetricsOptions {
  /** Also export prom-client's default process metrics (CPU, memory, event loop lag). Default false. */
  processMetrics?: boolean;
}

export function createServerMetrics(options: ServerMetricsOptions = {}): ServerMetrics {
  const registry = new Registry();
  if (options.processMetrics) collectDefaultMetrics({ register: registry });
  return {
    registry,
    validations: new Counter({
      name: 'sessionkeeper_validations_total',
      help: 'Session token checks by result: ok, or the reason of the failure.',
      labelNames: ['result'],
      registers: [registry],
    }),
    refreshes: new Counter({
      name: 'sessionkeeper_refreshes_total',
      help: 'Refresh token exchanges by result: ok, or the reason of the failure.',
      labelNames: ['result'],
      registers: [registry],
    }),
    expirations: new Counter({
      name: 'sessionkeeper_expirations_total',
      help: 'Sessions expired (idle or absolute), counted by the instance that delivered the event.',
      labelNames: ['reason'],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'sessionkeeper_http_request_duration_seconds',
      help: 'HTTP request duration by method, route pattern and status.',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    storeDuration: new Histogram({
      name: 'sessionkeeper_store_operation_duration_seconds',
      help: 'Session store call duration by operation.',
      labelNames: ['operation'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1],
      registers: [registry],
    }),
  };
}

/** The consumer group of the service's metrics (and event logs): shared by its instances. */
export const SERVICE_EVENT_GROUP = 'sessionkeeper-service';

/**
 * Adds the gauge read from the engine at scrape time and counts expirations from the engine's
 * `expired` events. Returns what undoes the listener.
 */
export function attachEngineMetrics(metrics: ServerMetrics, engine: SessionEngine): () => void {
  if (!metrics.registry.getSingleMetric('sessionkeeper_active_sessions')) {
    new Gauge({
      name: 'sessionkeeper_active_sessions',
      help: 'Active sessions in the store (all instances), read at scrape time.',
      registers: [metrics.registry],
      async collect() {
        this.set((await engine.stats()).active);
      },
    });
  }
  const onExpired: EventListener = (event) => {
    metrics.expirations.inc({ reason: event.reason ?? 'unknown' });
  };
  // The service's own consumer group: an app on the same store keeps its own events.
  engine.on('expired', onExpired, { group: SERVICE_EVENT_GROUP });
  return () => engine.off('expired', onExpired, { group: SERVICE_EVENT_GROUP });
}

/** Store members not measured: synchronous, or not a store round trip. */
const UNTIMED: ReadonlySet<string> = new Set(['newSessionId', 'close']);

/**
 * The store, with the duration of each asynchronous call recorded in `storeDuration`. Methods
 * run on the real store (`this` is never the proxy), so stores with private fields work.
 */
export function timedStore(store: SessionStore, metrics: ServerMetrics): SessionStore {
  return methodProxy(store, (name, method) => {
    if (UNTIMED.has(name)) return method;
    return (...args) => {
      const end = metrics.storeDuration.startTimer({ operation: name });
      const result: unknown = method(...args);
      if (result instanceof Promise) return result.finally(() => end());
      end();
      return result;
    };
  });
}

type Method = (...args: unknown[]) => unknown;

/**
 * `store` with each method replaced by `wrap(name, method bound to the real store)`, built once
 * per method (the proxy sits on the validation path), so stores with private fields still work.
 */
function methodProxy(
  store: SessionStore,
  wrap: (name: string, method: Method) => Method,
): SessionStore {
  const wrapped = new Map<string, Method>();
  return new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || typeof property !== 'string') return value;
      let method = wrapped.get(property);
      if (!method) {
        method = wrap(property, (value as Method).bind(target));
        wrapped.set(property, method);
      }
      return method;
    },
  });
}

/**
 * The store, with `claimEvents` answering nothing until `release()`: so no event is claimed (and
 * acknowledged with no listener to take it) before the server has registered its listeners.
 */
export function eventGatedStore(store: SessionStore): {
  store: SessionStore;
  release(): void;
} {
  let open = false;
  const gated = methodProxy(store, (name, method) =>
    name === 'claimEvents' ? (...args) => (open ? method(...args) : Promise.resolve([])) : method,
  );
  return {
    store: gated,
    release() {
      open = true;
    },
  };
}
