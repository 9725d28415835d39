import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { StoreUnavailableError, ValidationError } from 'sessionkeeper/internal/errors';
import { parseRedisUrl } from './connection-url.js';
import type { RedisClient } from './lua-scripts.js';

export interface ConnectionTimeouts {
  connectTimeoutMs: number;
  commandTimeoutMs: number;
}

/** Reconnect forever, at most a second apart, so the store recovers when Redis returns. */
function reconnectDelayMs(attempt: number): number {
  return Math.min(attempt * 100, 1000);
}

/**
 * Settings that make an outage fail fast instead of queueing: no offline queue (a command issued
 * while disconnected rejects at once), no retry of a command across reconnects (and no resending
 * of unanswered ones, which could run a script twice), and a time limit on every command and
 * connection attempt.
 */
function failFast(timeouts: ConnectionTimeouts) {
  return {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    connectTimeout: timeouts.connectTimeoutMs,
    commandTimeout: timeouts.commandTimeoutMs,
  } satisfies RedisOptions;
}

/** Builds an unconnected client for a store URL (see parseRedisUrl for the forms). */
export function clientForUrl(
  url: string,
  timeouts: ConnectionTimeouts,
): { client: RedisClient; location: string } {
  const parsed = parseRedisUrl(url);
  const auth = { username: parsed.username, password: parsed.password };
  const tls = parsed.tls ? { tls: {} } : {};
  if (parsed.mode === 'cluster') {
    const client = new Cluster(parsed.nodes, {
      lazyConnect: true,
      enableOfflineQueue: false,
      enableAutoPipelining: true, // per master; see the standalone options below
      clusterRetryStrategy: reconnectDelayMs,
      slotsRefreshTimeout: timeouts.connectTimeoutMs,
      redisOptions: { ...failFast(timeouts), ...auth, ...tls },
    });
    return { client, location: parsed.location };
  }
  const common = {
    ...failFast(timeouts),
    ...auth,
    ...tls,
    db: parsed.db,
    enableOfflineQueue: false,
    // Commands issued in one event-loop turn (concurrent validations, the fan-outs over all
    // shards) leave in one write, so throughput is not capped at one round trip per command.
    enableAutoPipelining: true,
    retryStrategy: reconnectDelayMs,
  } satisfies RedisOptions;
  const client =
    parsed.mode === 'sentinel'
      ? new Redis({
          ...common,
          sentinels: parsed.nodes,
          name: parsed.masterName,
          sentinelUsername: parsed.sentinelUsername,
          sentinelPassword: parsed.sentinelPassword,
          enableTLSForSentinelMode: parsed.tls,
          sentinelRetryStrategy: reconnectDelayMs,
        })
      : new Redis({ ...common, host: parsed.nodes[0]?.host, port: parsed.nodes[0]?.port });
  return { client, location: parsed.location };
}

/** Where an existing client points, without credentials. */
export function locationOfClient(client: RedisClient): string {
  if (client instanceof Cluster) return 'redis+cluster://(existing client)';
  const { host, port, db, tls, sentinels, name } = client.options;
  const scheme = tls ? 'rediss' : 'redis';
  if (sentinels?.length) {
    const hosts = sentinels.map((s) => `${s.host ?? 'localhost'}:${s.port ?? 26379}`).join(',');
    return `${scheme}+sentinel://${hosts}/${name ?? ''}`;
  }
  return `${scheme}://${host ?? 'localhost'}:${port ?? 6379}${db ? `/${db}` : ''}`;
}

/** Scripts build keys from ARGV, which a client-side key prefix would not reach. */
export function assertNoClientKeyPrefix(client: RedisClient): void {
  if (client.options.keyPrefix) {
    throw new ValidationError(
      'client',
      'must not set the ioredis keyPrefix option; give the store a keyPrefix instead',
    );
  }
}

/**
 * Connects (when the client has not connected yet) and waits until every server answers, within
 * `timeoutMs`. Rejects with `StoreUnavailableError` naming `location`.
 */
export async function connectClient(
  client: RedisClient,
  location: string,
  timeoutMs: number,
): Promise<void> {
  let lastError: unknown;
  // Without a listener ioredis prints every failed reconnection; the store reports failures
  // through its own rejections instead.
  client.on('error', (error: unknown) => {
    lastError = error;
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    if (client.status === 'wait') await Promise.race([client.connect(), timeout]);
    await Promise.race([pingAll(client), timeout]);
  } catch (error) {
    const cause = lastError ?? error;
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new StoreUnavailableError(`Cannot reach the session store at ${location}: ${reason}`, {
      cause,
    });
  } finally {
    clearTimeout(timer);
  }
}

/** On Cluster every master holds some shards, so every master must answer. */
export async function pingAll(client: RedisClient): Promise<void> {
  if (client instanceof Cluster) {
    const masters = client.nodes('master');
    if (masters.length === 0) throw new Error('the cluster has no reachable master');
    await Promise.all(masters.map((node) => node.ping()));
  } else {
    await client.ping();
  }
}
