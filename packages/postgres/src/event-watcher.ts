import pg from 'pg';
import { EVENTS_CHANNEL } from './migrations.js';

/** Pause before listening again after the listening connection failed. */
const RECONNECT_DELAY_MS = 1000;

/**
 * One dedicated connection that LISTENs for `sessionkeeper_events` and calls its subscribers when
 * a notification names this store's schema. It connects on the first subscriber and reconnects
 * after a failure for as long as anyone subscribes; after each reconnection it calls the
 * subscribers once, since notifications sent meanwhile were lost. Polling stays the safety net.
 */
export class EventWatcher {
  readonly #config: pg.ClientConfig;
  readonly #schema: string;
  readonly #subscribers = new Set<() => void>();
  #client: pg.Client | null = null;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(config: pg.ClientConfig, schema: string) {
    // No statement timeout on a connection that only waits; keep-alive notices a dead peer.
    this.#config = {
      ...config,
      statement_timeout: undefined,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    };
    this.#schema = schema;
  }

  subscribe(onEvents: () => void): () => void {
    this.#subscribers.add(onEvents);
    if (this.#client === null && this.#timer === null) this.#connect(false);
    return () => {
      this.#subscribers.delete(onEvents);
      if (this.#subscribers.size === 0) void this.#stop();
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#subscribers.clear();
    await this.#stop();
  }

  #notify(): void {
    for (const subscriber of this.#subscribers) subscriber();
  }

  #connect(reconnecting: boolean): void {
    if (this.#closed || this.#subscribers.size === 0) return;
    const client = new pg.Client(this.#config);
    this.#client = client;
    let failed = false;
    const fail = () => {
      if (failed) return;
      failed = true;
      if (this.#client === client) this.#client = null;
      client.end().catch(() => {});
      if (this.#closed || this.#subscribers.size === 0) return;
      this.#timer = setTimeout(() => {
        this.#timer = null;
        this.#connect(true);
      }, RECONNECT_DELAY_MS);
      this.#timer.unref();
    };
    client.on('error', fail);
    client.on('end', fail);
    client.on('notification', (message) => {
      if (message.channel === EVENTS_CHANNEL && message.payload === this.#schema) this.#notify();
    });
    client
      .connect()
      .then(() => client.query(`LISTEN ${EVENTS_CHANNEL}`))
      .then(() => {
        // The socket must not keep the process alive: the engine's timers do not either.
        (
          client as unknown as { connection?: { stream?: { unref?(): void } } }
        ).connection?.stream?.unref?.();
        if (reconnecting) this.#notify();
      })
      .catch(fail);
  }

  async #stop(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const client = this.#client;
    this.#client = null;
    if (client) {
      client.removeAllListeners('end');
      client.on('error', () => {});
      await client.end().catch(() => {});
    }
  }
}
