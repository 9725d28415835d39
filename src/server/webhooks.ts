import { createHmac } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { SessionEngine } from '../core/engine.js';
import { ValidationError } from '../core/errors.js';
import type { EventListener } from '../core/event-dispatcher.js';
import { EVENT_TYPES, type EventType, type SessionEvent } from '../core/types.js';
import { type SessionJson, sessionJson } from './wire.js';

export interface WebhookOptions {
  /** Every event is POSTed to each of these URLs. */
  urls: readonly string[];
  /** Key of the HMAC-SHA256 in `Webhook-Signature`. Never logged. */
  secret: string;
  /**
   * Pauses before each quick in-process retry of one URL, in ms. Default 500, 1000, 2000, 4000.
   * After them the listener throws and the durable outbox delivers the event again later.
   */
  retryDelaysMs?: readonly number[];
  /** Limit for each request, in ms. Default 5000. */
  timeoutMs?: number;
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

const DEFAULT_RETRY_DELAYS_MS = [500, 1000, 2000, 4000];
const DEFAULT_TIMEOUT_MS = 5000;
/** (event, URL) pairs remembered as delivered, so a redelivered event skips URLs already served. */
const MAX_REMEMBERED = 10_000;

export interface WebhookSender {
  /** Stops retries in flight (their events are delivered again later) and removes the listeners. */
  close(): void;
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
  }
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
 * Listens for every event type and POSTs each event, signed, to every URL. Per URL a few quick
 * retries with exponential backoff; when a URL still fails the listener throws, so the engine's
 * outbox delivers the event again after its lease (at least once, across restarts). URLs that
 * already took an event are not sent it again by this process when it is redelivered.
 */
export function registerWebhooks(
  engine: SessionEngine,
  options: WebhookOptions,
  logger: Logger,
): WebhookSender {
  checkWebhookOptions(options);
  const urls = [...new Set(options.urls)];
  const retryDelaysMs = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const delivered = new Set<string>();
  /** URLs that failed every quick retry lately: one attempt per event until one succeeds. */
  const failing = new Set<string>();
  const stop = new AbortController();

  function remember(key: string): void {
    delivered.add(key);
    if (delivered.size > MAX_REMEMBERED) {
      const oldest = delivered.values().next().value;
      if (oldest !== undefined) delivered.delete(oldest);
    }
  }

  async function post(url: string, body: string, eventId: string): Promise<void> {
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
      signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), stop.signal]),
    });
    await response.body?.cancel().catch(() => undefined);
    if (response.status < 200 || response.status >= 300)
      throw new Error(`answered HTTP ${response.status}`);
  }

  async function deliverTo(url: string, event: SessionEvent, body: string): Promise<boolean> {
    const key = `${event.id} ${url}`;
    if (delivered.has(key)) return true;
    const delays = failing.has(url) ? [] : retryDelaysMs;
    for (let attempt = 0; ; attempt++) {
      try {
        await post(url, body, event.id);
        remember(key);
        failing.delete(url);
        return true;
      } catch (error) {
        const delay = delays[attempt];
        const level = delay === undefined ? 'warn' : 'debug';
        logger[level](
          {
            eventId: event.id,
            type: event.type,
            url: shownUrl(url),
            attempt: attempt + 1,
            error: error instanceof Error ? error.message : String(error),
          },
          delay === undefined
            ? 'webhook delivery failed; the event will be delivered again later'
            : 'webhook delivery failed; retrying',
        );
        if (delay === undefined || stop.signal.aborted) break;
        try {
          await sleep(delay, undefined, { signal: stop.signal });
        } catch {
          break; // closing: the outbox redelivers the event
        }
      }
    }
    failing.add(url);
    return false;
  }

  const listener: EventListener = async (event) => {
    const body = JSON.stringify(webhookPayload(event));
    const results = await Promise.all(urls.map((url) => deliverTo(url, event, body)));
    const failed = urls.filter((_url, index) => !results[index]);
    if (failed.length > 0)
      throw new Error(`webhook delivery failed for ${failed.map(shownUrl).join(', ')}`);
  };

  for (const type of EVENT_TYPES) engine.on(type, listener);
  return {
    close() {
      stop.abort();
      for (const type of EVENT_TYPES) engine.off(type, listener);
    },
  };
}
