import { createHash, createHmac } from 'node:crypto';
import { type LookupAddress, type LookupOptions, lookup } from 'node:dns';
import { isIP } from 'node:net';
import { type SessionJson, sessionJson } from '@sessionkeeper/middleware/internal/wire';
import type { Logger } from 'pino';
import type { SessionEngine } from 'sessionkeeper/internal/engine';
import { ValidationError } from 'sessionkeeper/internal/errors';
import type { EventListener } from 'sessionkeeper/internal/event-dispatcher';
import { EVENT_TYPES, type EventType, type SessionEvent } from 'sessionkeeper/internal/types';
import type { Agent, fetch as undiciFetch } from 'undici';

export interface WebhookOptions {
  /** Every event is POSTed to each of these URLs. Each URL is its own consumer group. */
  urls: readonly string[];
  /** Key of the HMAC-SHA256 in `Webhook-Signature`. Never logged. */
  secret: string;
  /**
   * Each receiver's retry schedule, in ms: the pause before its n-th redelivery of an event from
   * the durable outbox (the last entry repeats), until the engine's `maxEventAttempts`. Default
   * 1 s, doubling up to 5 min.
   */
  retryDelaysMs?: readonly number[];
  /** Limit for each request, from connecting to the answer's status, in ms. Default 5000. */
  timeoutMs?: number;
  /**
   * Send to URLs whose host is or resolves to a link-local address (169.254.0.0/16, fe80::/10),
   * where clouds serve instance metadata and credentials. Default false: refused.
   */
  allowLinkLocal?: boolean;
}

/** The JSON body of every webhook request. */
export interface WebhookPayload {
  /** The event id, also sent as `Webhook-Id`: de-duplicate by it (delivery is at least once). */
  id: string;
  type: EventType;
  at: string;
  reason: string | null;
  session: SessionJson;
}

const DEFAULT_RETRY_DELAYS_MS = [
  1000, 2000, 4000, 8000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000,
];
const DEFAULT_TIMEOUT_MS = 5000;
/** Events one receiver has in flight at once (a batch is claimed and sent concurrently). */
const RECEIVER_CONCURRENCY = 10;

export interface WebhookSender {
  /** Aborts requests in flight (their events are delivered again later) and removes the listeners. */
  close(): void;
}

/**
 * The consumer group of one receiver: stable across restarts and instances for one URL, and
 * without the URL itself (its query or credentials may hold a secret).
 */
export function webhookGroup(url: string): string {
  return `webhook-${createHash('sha256').update(url).digest('hex').slice(0, 32)}`;
}

/** Throws `ValidationError` naming the first wrong webhook option. */
export function checkWebhookOptions(options: WebhookOptions): void {
  if (typeof options.secret !== 'string' || options.secret.length === 0)
    throw new ValidationError('webhooks.secret', 'is required to sign webhook requests');
  if (!Array.isArray(options.urls) || options.urls.length === 0)
    throw new ValidationError('webhooks.urls', 'must list at least one URL');
  for (const url of options.urls) {
    if (!isWebhookUrl(url))
      throw new ValidationError('webhooks.urls', `${shownUrl(url)} is not an http(s) URL`);
    if (options.allowLinkLocal !== true && isLinkLocalHost(new URL(url).hostname)) {
      throw new ValidationError(
        'webhooks.urls',
        `${shownUrl(url)} is a link-local address (cloud metadata); set webhooks.allowLinkLocal to send there`,
      );
    }
  }
  const timeout = options.timeoutMs;
  if (timeout !== undefined && !(Number.isInteger(timeout) && timeout > 0))
    throw new ValidationError('webhooks.timeoutMs', 'must be a positive whole number of ms');
  const delays = options.retryDelaysMs;
  if (
    delays !== undefined &&
    !(Array.isArray(delays) && delays.every((d) => Number.isInteger(d) && d >= 0))
  )
    throw new ValidationError('webhooks.retryDelaysMs', 'must be a list of whole ms, 0 or more');
}

export function isWebhookUrl(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:';
  } catch {
    return false;
  }
}

/** `v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`. */
export function webhookSignature(secret: string, timestamp: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export function webhookPayload(event: SessionEvent): WebhookPayload {
  return {
    id: event.id,
    type: event.type,
    at: event.at.toISOString(),
    reason: event.reason,
    session: sessionJson(event.session),
  };
}

/** A URL as logs may show it: no credentials, no query (either may hold a secret). */
export function shownUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

/**
 * Makes each URL a consumer group of its own (`webhookGroup`) that listens for every event type and
 * POSTs each event, signed, to that URL. So each receiver has its own queue in the durable outbox
 * and its own retry schedule: a slow or dead receiver delays only itself, and nothing is lost
 * across restarts (at least once; another instance of the service may deliver). Every attempt is
 * bounded by `timeoutMs`.
 */
export function registerWebhooks(
  engine: SessionEngine,
  options: WebhookOptions,
  logger: Logger,
): WebhookSender {
  checkWebhookOptions(options);
  const urls = [...new Set(options.urls)];
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const retryDelaysMs = options.retryDelaysMs?.length
    ? options.retryDelaysMs
    : DEFAULT_RETRY_DELAYS_MS;
  const stop = new AbortController();
  // undici is loaded on the first delivery, so `serve` starts (and refuses bad flags) faster.
  let transport: Promise<{ agent: Agent; fetch: typeof undiciFetch }> | undefined;
  const connect = () => {
    transport ??= import('undici').then(({ Agent, fetch }) => ({
      agent: new Agent({
        connect: {
          timeout: timeoutMs,
          ...(options.allowLinkLocal === true ? {} : { lookup: refusingLinkLocal() }),
        },
      }),
      fetch,
    }));
    return transport;
  };
  const registered: { group: string; listener: EventListener }[] = [];

  async function post(url: string, body: string, eventId: string): Promise<void> {
    // A plain timer held by this call, not AbortSignal.timeout inside AbortSignal.any: on Node 20
    // a garbage collection can drop the combined signal's timeout, and the request then waits for
    // as long as the receiver does.
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new Error(`no answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onStop = () => controller.abort(new Error('the service is closing'));
    stop.signal.addEventListener('abort', onStop);
    try {
      const { agent, fetch } = await connect();
      const timestamp = Math.floor(Date.now() / 1000);
      const response = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'sessionkeeper-webhooks',
          'webhook-id': eventId,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': webhookSignature(options.secret, timestamp, body),
        },
        body,
        redirect: 'manual',
        signal: controller.signal,
        dispatcher: agent,
      });
      await response.body?.cancel().catch(() => undefined);
      if (response.status < 200 || response.status >= 300)
        throw new Error(`answered HTTP ${response.status}`);
    } catch (error) {
      // The abort's reason says why (timeout or closing), not a bare "This operation was aborted".
      throw controller.signal.aborted ? controller.signal.reason : error;
    } finally {
      clearTimeout(timer);
      stop.signal.removeEventListener('abort', onStop);
    }
  }

  for (const url of urls) {
    const group = webhookGroup(url);
    const listener: EventListener = async (event) => {
      try {
        await post(url, JSON.stringify(webhookPayload(event)), event.id);
      } catch (error) {
        logger.warn(
          {
            eventId: event.id,
            type: event.type,
            url: shownUrl(url),
            group,
            error: errorText(error),
          },
          'webhook delivery failed; the event will be delivered again later',
        );
        throw error;
      }
    };
    const groupOptions = {
      group,
      batchSize: RECEIVER_CONCURRENCY,
      concurrency: RECEIVER_CONCURRENCY,
      retryDelaysMs,
    };
    for (const type of EVENT_TYPES) engine.on(type, listener, groupOptions);
    registered.push({ group, listener });
  }
  return {
    close() {
      stop.abort();
      for (const { group, listener } of registered)
        for (const type of EVENT_TYPES) engine.off(type, listener, { group });
      transport?.then(({ agent }) => agent.close()).catch(() => undefined);
    },
  };
}

function errorText(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // undici reports connection failures as "fetch failed" with the reason in `cause`.
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${error.message}${cause}`;
}

/**
 * True for an IP literal in 169.254.0.0/16 or fe80::/10 (IPv4-mapped forms included): where
 * clouds serve instance metadata (169.254.169.254, fd00:ec2::254 is not link-local and not
 * covered). Host names are checked when they resolve (`refusingLinkLocal`).
 */
export function isLinkLocalHost(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const kind = isIP(bare);
  if (kind === 4) return bare.startsWith('169.254.');
  if (kind !== 6) return false;
  const lower = bare.toLowerCase();
  if (/^fe[89ab][0-9a-f]:/.test(lower)) return true;
  const mapped = /^(?:(?:0{1,4}:){5}|::)ffff:(.+)$/.exec(lower)?.[1];
  if (mapped === undefined) return false;
  return isIP(mapped) === 4 ? mapped.startsWith('169.254.') : /^a9fe:[0-9a-f]{1,4}$/.test(mapped);
}

/**
 * Resolves each webhook host name once (at start-up) and rejects with `ValidationError` naming
 * `webhooks.urls` when one answers with a link-local address, unless `allowLinkLocal`. A name that
 * does not resolve now (or not within 2 s) is let through: the receiver may come later, and every connection checks
 * again (`refusingLinkLocal`).
 */
export async function checkWebhookTargets(
  options: WebhookOptions,
  resolve: Lookup = lookup,
): Promise<void> {
  if (options.allowLinkLocal === true) return;
  for (const url of options.urls) {
    const host = new URL(url).hostname;
    if (isIP(host.replace(/^\[|\]$/g, '')) !== 0) continue; // literals: checkWebhookOptions
    // A resolver that takes long (no DNS yet) must not hold up start-up: past 2 s, go on.
    let timer: NodeJS.Timeout | undefined;
    const addresses = await new Promise<LookupAddress[]>((done) => {
      timer = setTimeout(() => done([]), 2000);
      resolve(host, { all: true }, (error, found) => done(error ? [] : found));
    }).finally(() => clearTimeout(timer));
    const refused = addresses.find((a) => isLinkLocalHost(a.address));
    if (refused) {
      throw new ValidationError(
        'webhooks.urls',
        `${shownUrl(url)} resolves to the link-local address ${refused.address} (cloud metadata), refused unless allowLinkLocal is set`,
      );
    }
  }
}

export class LinkLocalRefusedError extends Error {
  constructor(host: string, address: string) {
    super(
      `${host} resolves to the link-local address ${address} (cloud metadata): refused; set --webhook-allow-link-local true to allow it`,
    );
    this.name = 'LinkLocalRefusedError';
  }
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

type Lookup = (
  hostname: string,
  options: LookupOptions & { all: true },
  callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

/**
 * A `lookup` for webhook connections that resolves with `resolve` (default `dns.lookup`) and
 * refuses any answer holding a link-local address, so a host name pointing at the metadata
 * service (or re-pointed there after start-up) is never connected to.
 */
export function refusingLinkLocal(resolve: Lookup = lookup) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    resolve(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      const refused = addresses.find((a) => isLinkLocalHost(a.address));
      if (refused) return callback(new LinkLocalRefusedError(hostname, refused.address), []);
      if (options.all) return callback(null, addresses);
      const first = addresses[0];
      if (!first) {
        const missing = Object.assign(new Error(`no address for ${hostname}`), {
          code: 'ENOTFOUND',
        });
        return callback(missing, []);
      }
      callback(null, first.address, first.family);
    });
  };
}
