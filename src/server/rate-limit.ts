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
  /** An onRequest hook: refuses a client that already failed `maxPerMinute` times in the window. */
  check(request: FastifyRequest): Promise<void>;
  /** Counts the response when it is a failed credential check (a 401). */
  record(request: FastifyRequest, reply: FastifyReply): Promise<void>;
}

/**
 * Limits failed validations and refreshes per client address with @fastify/rate-limit's
 * counters: only failures are counted (successes never use up the allowance), and a client past
 * the limit is answered 429 `rate-limited` with Retry-After until its window ends.
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
  return {
    async check(request) {
      if (!failedRecently(request.ip) || !countsFailures(request.routeOptions.url)) return;
      const state = await limiterOf()(request, { increment: false });
      if (state.isAllowed || state.remaining > 0) return;
      const seconds = Math.max(1, state.ttlInSeconds);
      throw new RateLimitedError(
        `Too many failed session checks from this client (${state.max} per minute); retry after ${seconds} seconds`,
        seconds,
      );
    },
    async record(request, reply) {
      if (reply.statusCode !== 401 || !countsFailures(request.routeOptions.url)) return;
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
