import type { Logger } from 'pino';
import type { Clock } from './clock.js';
import { toSession } from './session-view.js';
import type { SessionStore, StoredEvent } from './store.js';
import type { EventType, SessionData, SessionEvent } from './types.js';

export type EventListener<Data extends SessionData = SessionData> = (
  event: SessionEvent<Data>,
) => void | Promise<void>;

export interface DispatcherSettings {
  leaseMs: number;
  maxAttempts: number;
}

const BATCH_SIZE = 100;

/**
 * Drains the store's durable outbox into listeners. An event is acknowledged only after every
 * listener for it has finished, so a crash or a failing listener means redelivery (at least once),
 * never loss; with several instances each event goes to one of them.
 */
export class EventDispatcher<Data extends SessionData> {
  readonly #listeners = new Map<EventType, Set<EventListener<Data>>>();
  #draining: Promise<number> | null = null;
  #again = false;

  constructor(
    private readonly store: SessionStore,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly settings: DispatcherSettings,
  ) {}

  on(type: EventType, listener: EventListener<Data>): void {
    const set = this.#listeners.get(type) ?? new Set();
    set.add(listener);
    this.#listeners.set(type, set);
  }

  off(type: EventType, listener: EventListener<Data>): void {
    this.#listeners.get(type)?.delete(listener);
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
    let delivered = 0;
    do {
      this.#again = false;
      for (;;) {
        const events = await this.store.claimEvents(
          this.clock.now(),
          BATCH_SIZE,
          this.settings.leaseMs,
        );
        if (events.length === 0) break;
        const done: string[] = [];
        for (const event of events) if (await this.#deliver(event)) done.push(event.id);
        await this.store.ackEvents(done);
        delivered += done.length;
        if (events.length < BATCH_SIZE) break;
      }
    } while (this.#again);
    return delivered;
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
    if (stored.attempts === 0) this.#log(event);
    let failed = false;
    for (const listener of this.#listeners.get(stored.type) ?? []) {
      try {
        await listener(event);
      } catch (err) {
        failed = true;
        this.logger.error(
          {
            err,
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
