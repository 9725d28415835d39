import { ValidationError } from 'sessionkeeper/internal/errors';
import {
  assertNoClientKeyPrefix,
  clientForUrl,
  connectClient,
  locationOfClient,
} from './connection.js';
import { validateKeyPrefix } from './keys.js';
import { loadScripts, type RedisClient } from './lua-scripts.js';
import { RedisStore } from './redis-store.js';
import { ShardClient } from './shard-client.js';

export interface RedisStoreOptions {
  /**
   * Where Redis is (the password never appears in `location` or errors):
   * - `redis://[[user]:password@]host[:port][/db]`, `rediss://…` for TLS
   * - `redis+sentinel://[[user]:password@]sentinel[:port][,sentinel[:port]…]/masterName[/db]`
   *   (sentinels' own credentials: `?sentinelUsername=…&sentinelPassword=…`), `rediss+sentinel://…`
   * - `redis+cluster://[[user]:password@]host[:port][,host[:port]…]`, `rediss+cluster://…`
   */
  url?: string;
  /** Cluster seed nodes, as an alternative to a `redis+cluster://` URL. */
  cluster?: {
    nodes: { host: string; port: number }[];
    username?: string;
    password?: string;
    tls?: boolean;
  };
  /**
   * An ioredis client or cluster to use instead of `url`; the store does not close it. Its own
   * settings then decide outage behaviour: for fast `StoreUnavailableError`s set
   * `enableOfflineQueue: false`, `maxRetriesPerRequest: 0` and `commandTimeout`, and turn on
   * `enableAutoPipelining`. It must not set `keyPrefix` (use the store's).
   */
  client?: RedisClient;
  /** Starts every key; lets several stores (or tests) share one Redis. Default `sk:`. */
  keyPrefix?: string;
  /**
   * How long an ended session stays readable (as revoked or expired) if no sweeper purges it
   * first, and how long a session nobody sweeps survives its deadline before Redis frees it (its
   * `expired` event is then never emitted). Keep it at least the engine's tombstone retention.
   * Default 7 days.
   */
  tombstoneTtlSeconds?: number;
  /** Limit for connecting at start-up and for each reconnection attempt. Default 2. */
  connectTimeoutSeconds?: number;
  /**
   * Limit for each store call, counted from when it is made (queueing included); past it the
   * call rejects with StoreUnavailableError, and later calls fail at once until Redis answers
   * again, so an HTTP request to a hung Redis fails within this limit. Default 1.5, which keeps
   * such requests within the documented two seconds.
   */
  commandTimeoutSeconds?: number;
}

/** Under the two seconds the docs promise for a failing call, with room for the HTTP round trip. */
const DEFAULT_COMMAND_TIMEOUT_SECONDS = 1.5;
/** Sweeping and event claims may take this many times longer: no request waits on them. */
const BACKGROUND_TIMEOUT_FACTOR = 5;

function positiveSeconds(field: string, value: number | undefined, fallback: number): number {
  const seconds = value ?? fallback;
  if (!Number.isFinite(seconds) || seconds <= 0) {
    throw new ValidationError(field, 'must be a positive number of seconds');
  }
  return seconds;
}

function clusterUrl(cluster: NonNullable<RedisStoreOptions['cluster']>): string {
  const { username = '', password } = cluster;
  const account =
    username || password !== undefined
      ? `${encodeURIComponent(username)}${password === undefined ? '' : `:${encodeURIComponent(password)}`}@`
      : '';
  const hosts = cluster.nodes
    .map(({ host, port }) => `${host.includes(':') ? `[${host}]` : host}:${port}`)
    .join(',');
  return `${cluster.tls ? 'rediss' : 'redis'}+cluster://${account}${hosts}`;
}

/**
 * Connects to Redis and returns the store. Rejects with `StoreUnavailableError` naming the URL
 * (without password) when Redis does not answer within the connect timeout, and with
 * `ValidationError` for a malformed URL or option.
 */
export async function createRedisStore(options: string | RedisStoreOptions): Promise<RedisStore> {
  const settings = typeof options === 'string' ? { url: options } : options;
  const prefix = validateKeyPrefix(settings.keyPrefix ?? 'sk:');
  const tombstoneTtlSeconds = positiveSeconds(
    'tombstoneTtlSeconds',
    settings.tombstoneTtlSeconds,
    7 * 24 * 3600,
  );
  const callTimeoutMs =
    positiveSeconds(
      'commandTimeoutSeconds',
      settings.commandTimeoutSeconds,
      DEFAULT_COMMAND_TIMEOUT_SECONDS,
    ) * 1000;
  // Requests get `callTimeoutMs` from when each call is made (ShardClient enforces it); ioredis's
  // own timeout, counted from when a command is written, is the longer one of background work.
  const backgroundTimeoutMs = callTimeoutMs * BACKGROUND_TIMEOUT_FACTOR;
  const timeouts = {
    connectTimeoutMs:
      positiveSeconds('connectTimeoutSeconds', settings.connectTimeoutSeconds, 2) * 1000,
    commandTimeoutMs: backgroundTimeoutMs,
  };
  const scripts = loadScripts();

  let client: RedisClient;
  let location: string;
  const ownsClient = settings.client === undefined;
  if (settings.client) {
    assertNoClientKeyPrefix(settings.client);
    client = settings.client;
    location = locationOfClient(client);
  } else if (settings.url) {
    ({ client, location } = clientForUrl(settings.url, timeouts));
  } else if (settings.cluster) {
    ({ client, location } = clientForUrl(clusterUrl(settings.cluster), timeouts));
  } else {
    throw new ValidationError('url', 'give a Redis URL, Cluster nodes or an ioredis client');
  }

  try {
    await connectClient(client, location, timeouts.connectTimeoutMs);
  } catch (error) {
    if (ownsClient) client.disconnect();
    throw error;
  }
  const graceMs = Math.round(tombstoneTtlSeconds * 1000);
  const shards = new ShardClient(client, prefix, location, graceMs, scripts, callTimeoutMs);
  return new RedisStore(shards, ownsClient, shards.background(backgroundTimeoutMs));
}
