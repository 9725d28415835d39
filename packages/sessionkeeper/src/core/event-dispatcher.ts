import type { Logger } from 'pino';
import type { Clock } from './clock.js';
import { toSession } from './session-view.js';
import type { SessionStore, StoredEvent } from './store.js';
import type { EventType, SessionData, SessionEvent } from './types.js';

export type EventListener<Data extends SessionData = SessionData> = (
  event: SessionEvent<Data>,
) => void | Promise<void>;

export interface DispatcherSettings {
  /** The consumer group this dispatcher claims for. */
  group: string;
  leaseMs: number;
  maxAttempts: number;
  /** Events claimed per store call. */
  batchSize: number;
  /** Events of one batch delivered at once (1: one after the other, in order). */
  concurrency: number;
  /** Pause before the n-th redelivery (the last repeats); null: 1 s doubling, capped at the lease. */
  retryDelaysMs: readonly number[] | null;
  /** Logs each event on its first delivery (only the engine's log group does, so each is logged once). */
  logEvents: boolean;
}

/** First retry 1 s after a failure, doubling each time, never later than the lease. */
const FIRST_RETRY_MS = 1000;

/**
 * Drains the store's durable outbox into the listeners of one consumer group. An event is
 * acknowledged for the group only after every listener for it has finished, so a crash or a
 * failing listener means redelivery to the group (at least once), never loss. Instances of one
 * group share the work: each event goes to one of them. A dispatcher with no listener claims
 * nothing. A failed event is retried on the group's schedule (default 1 s, 2 s, 4 s… capped at the
 * lease) until `maxAttempts`, then dropped with an error log.
 */
export class EventDispatcher<Data extends SessionData> {
  readonly #listeners = new Map<EventType, Set<EventListener<Data>>>();
  #draining: Promise<number> | null = null;
  #again = false;

  constructor(
    private readonly store: SessionStore,
    private readonly clock: Clock,
    private readonly logger: Logger,
    readonly settings: DispatcherSettings,
  ) {}

  on(type: EventType, listener: EventListener<Data>): void {
    const set = this.#listeners.get(type) ?? new Set();
    set.add(listener);
    this.#listeners.set(type, set);
  }

  off(type: EventType, listener: EventListener<Data>): void {
    this.#listeners.get(type)?.delete(listener);
  }

  /** True while any listener is registered: only then does the group claim events. */
  get listening(): boolean {
    for (const set of this.#listeners.values()) if (set.size > 0) return true;
    return false;
  }

  /** Delivers everything waiting; concurrent calls share one drain. Resolves to the number delivered. */
  drain(): Promise<number> {
    if (this.#draining) {
      this.#again = true;
      return this.#draining;
    }
    this.#draining = this.#drainLoop().finally(() => {
      this.#draining = null;
    });
    return this.#draining;
  }

  /** The drain in flight, if any (so `close()` can wait for it). */
  get pending(): Promise<unknown> | null {
    return this.#draining;
  }

  async #drainLoop(): Promise<number> {
    const { group, batchSize, leaseMs } = this.settings;
    let delivered = 0;
    do {
      this.#again = false;
      while (this.listening) {
        const events = await this.store.claimEvents(this.clock.now(), batchSize, leaseMs, group);
        if (events.length === 0) break;
        const outcomes = await this.#deliverAll(events);
        const done = events.filter((_, k) => outcomes[k]);
        const failed = events.filter((_, k) => !outcomes[k]);
        await this.store.ackEvents(
          done.map((e) => e.id),
          group,
        );
        // One call per distinct pause: a dead receiver's whole batch usually shares one.
        const byDelay = new Map<number, string[]>();
        for (const event of failed) {
          const delay = this.#retryDelayMs(event.attempts);
          byDelay.set(delay, [...(byDelay.get(delay) ?? []), event.id]);
        }
        const nowMs = this.clock.now();
        for (const [delay, ids] of byDelay) await this.store.retryEvents(ids, nowMs + delay, group);
        delivered += done.length;
        if (events.length < batchSize) break;
      }
    } while (this.#again);
    return delivered;
  }

  #retryDelayMs(attempts: number): number {
    const schedule = this.settings.retryDelaysMs;
    if (schedule === null) return Math.min(this.settings.leaseMs, FIRST_RETRY_MS * 2 ** attempts);
    return schedule[Math.min(attempts, schedule.length - 1)] ?? 0;
  }

  /** Delivers a batch, `concurrency` events at a time; true for each event finished with. */
  async #deliverAll(events: readonly StoredEvent[]): Promise<boolean[]> {
    const outcomes: boolean[] = new Array(events.length).fill(false);
    let next = 0;
    const worker = async () => {
      for (let k = next++; k < events.length; k = next++) {
        const event = events[k];
        if (event) outcomes[k] = await this.#deliver(event);
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(this.settings.concurrency, events.length) }, worker),
    );
    return outcomes;
  }

  /** True when the event is finished with (delivered, or dropped after too many failures). */
  async #deliver(stored: StoredEvent): Promise<boolean> {
    const event: SessionEvent<Data> = {
      id: stored.id,
      type: stored.type,
      at: new Date(stored.atMs),
      reason: stored.reason,
      session: toSession<Data>(stored.session),
    };
    if (stored.attempts === 0 && this.settings.logEvents) this.#log(event);
    const { group } = this.settings;
    let failed = false;
    for (const listener of [...(this.#listeners.get(stored.type) ?? [])]) {
      try {
        await listener(event);
      } catch (err) {
        failed = true;
        this.logger.error(
          {
            err,
            group,
            eventId: event.id,
            type: event.type,
            sessionId: event.session.id,
            attempt: stored.attempts + 1,
          },
          'session event listener failed; the event will be delivered again',
        );
      }
    }
    if (failed && stored.attempts + 1 >= this.settings.maxAttempts) {
      this.logger.error(
        {
          group,
          eventId: event.id,
          type: event.type,
          sessionId: event.session.id,
          attempts: stored.attempts + 1,
        },
        'session event dropped after its listeners failed on every attempt',
      );
      return true;
    }
    return !failed;
  }

  #log(event: SessionEvent<Data>): void {
    const { session } = event;
    const base = {
      event: event.type,
      eventId: event.id,
      sessionId: session.id,
      subject: session.subject,
    };
    switch (event.type) {
      case 'created':
        this.logger.info(base, 'session created');
        break;
      case 'expired':
        this.logger.info(
          {
            ...base,
            reason: event.reason,
            ageSeconds: Math.round((event.at.getTime() - session.createdAt.getTime()) / 1000),
          },
          'session expired',
        );
        break;
      case 'refresh.rotated':
        this.logger.debug(base, 'refresh token rotated'); // every refresh: too many for info
        break;
      case 'refresh.reused':
        this.logger.warn(base, 'rotated refresh token presented again: session revoked');
        break;
      default:
        this.logger.info({ ...base, reason: event.reason }, `session ${event.type}`);
    }
  }
}
