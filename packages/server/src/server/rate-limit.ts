import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RateLimitedError } from './server-errors.js';

const WINDOW_MS = 60_000;
const MAX_TRACKED = 100_000;

/** Routes whose 401s count as failures: the session-holder calls and the refresh call. */
export function countsFailures(route: string | undefined): boolean {
  return route !== undefined && (route === '/v1/session' || route.startsWith('/v1/session/'));
}

export interface FailureLimiter {
  /**
   * An onRequest hook: notes whether the client already failed `maxPerMinute` times in the
   * window. It refuses nothing by itself: the request goes on, so a valid credential is served.
   */
  check(request: FastifyRequest): Promise<void>;
  /**
   * The 429 to answer instead of `failure` (a 401) when the client is over its limit, else
   * undefined. A client over the limit learns nothing but "rate limited" from a wrong credential.
   */
  refusalOf(request: FastifyRequest, failure: { status: number }): RateLimitedError | undefined;
  /** Counts the response when it is a failed credential check (a 401, or its 429 stand-in). */
  record(request: FastifyRequest, reply: FastifyReply): Promise<void>;
}

/**
 * Limits failed validations and refreshes per client address (`request.ip`, which honours
 * `trustProxy`) with @fastify/rate-limit's counters. Only failures count, and only failures are
 * refused: past the limit a wrong credential is answered 429 `rate-limited` with Retry-After
 * until the window ends, while a request whose credential is valid is served as always. The
 * limiter slows guessing, not users: behind a NAT or proxy, one client's failures never lock
 * the others out.
 */
export function registerFailureLimiter(app: FastifyInstance, maxPerMinute: number): FailureLimiter {
  app.register(rateLimit, { global: false, max: maxPerMinute, timeWindow: WINDOW_MS });
  let limiter: ReturnType<FastifyInstance['createRateLimit']> | undefined;
  // Addresses with a failure in the current window (address -> window end, epoch ms): the
  // limiter's counter is read only for these, so clients that never fail pay nothing per request.
  const failed = new Map<string, number>();
  const failedRecently = (ip: string): boolean => {
    if (failed.size >= MAX_TRACKED) return true; // too many to track: consult the limiter always
    const until = failed.get(ip);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    failed.delete(ip);
    return false;
  };
  const limiterOf = () => {
    limiter ??= app.createRateLimit({ max: maxPerMinute, timeWindow: WINDOW_MS });
    return limiter;
  };
  // Requests from clients over the limit, with the refusal their failure would get.
  const overLimit = new WeakMap<FastifyRequest, RateLimitedError>();
  return {
    async check(request) {
      if (!failedRecently(request.ip) || !countsFailures(request.routeOptions.url)) return;
      const state = await limiterOf()(request, { increment: false });
      if (state.isAllowed || state.remaining > 0) return;
      const seconds = Math.max(1, state.ttlInSeconds);
      overLimit.set(
        request,
        new RateLimitedError(
          `Too many failed session checks from this client (${state.max} per minute); retry after ${seconds} seconds`,
          seconds,
        ),
      );
    },
    refusalOf(request, failure) {
      return failure.status === 401 ? overLimit.get(request) : undefined;
    },
    async record(request, reply) {
      if (!countsFailures(request.routeOptions.url)) return;
      const refused = reply.statusCode === 429 && overLimit.has(request);
      if (reply.statusCode !== 401 && !refused) return;
      const nowMs = Date.now();
      if (failed.size >= MAX_TRACKED) {
        for (const [ip, until] of failed) if (until <= nowMs) failed.delete(ip);
      }
      // Kept a full window past the latest failure: never shorter than the limiter's own window.
      if (failed.size < MAX_TRACKED) failed.set(request.ip, nowMs + WINDOW_MS);
      await limiterOf()(request);
    },
  };
}
