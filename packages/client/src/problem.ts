/** What the client reads from the server's `application/problem+json` bodies. */
export type ProblemAction = 'refresh' | 'reauthenticate' | 'retry' | 'fix-request';

export interface ClientProblem {
  status: number;
  code: string;
  action: ProblemAction;
  detail?: string;
  type?: string;
}

/** Session-ending problems after which the app's `reauthenticate()` may sign in again silently. */
export const REAUTHENTICATE_CODES: ReadonlySet<string> = new Set([
  'SESSION_NOT_FOUND',
  'SESSION_EXPIRED',
  'SESSION_LIFETIME_EXCEEDED',
  'INVALID_TOKEN',
  'REFRESH_TOKEN_REUSED',
]);

/** The problem in `response`, or undefined if it is not a sessionkeeper problem. Leaves the body unread. */
export async function readProblem(response: Response): Promise<ClientProblem | undefined> {
  const type = response.headers.get('content-type') ?? '';
  if (!type.toLowerCase().startsWith('application/problem+json')) return undefined;
  try {
    const body = (await response.clone().json()) as Partial<ClientProblem> | null;
    if (typeof body?.code !== 'string' || typeof body.action !== 'string') return undefined;
    return {
      status: response.status,
      code: body.code,
      action: body.action,
      detail: body.detail,
      type: body.type,
    };
  } catch {
    return undefined;
  }
}

/** `Retry-After` in seconds (delta form; an HTTP date is ignored). */
export function retryAfterOf(response: Response): number | undefined {
  const value = Number(response.headers.get('retry-after'));
  return Number.isFinite(value) && value >= 0 ? value : undefined;
}

/** True for answers worth retrying unchanged: 503 and 429 (the store or a limit, never a logout). */
export function isTransient(response: Response): boolean {
  return response.status === 503 || response.status === 429;
}

/**
 * What went wrong, stable for code to check: `REFRESH_LIMIT` (more than `maxRefreshesPerMinute`;
 * not refreshing), `NETWORK_ERROR` (retries ran out), `REQUEST_FAILED` (the API answered an error
 * that ends nothing: an outage past the retries, a rate limit, a bad request; see `problem`),
 * `REAUTHENTICATE_FAILED` (your `reauthenticate()` threw), `HANDOFF_TIMEOUT` (another tab refreshed,
 * and its tokens did not reach this tab in time: this tab went on with the ones it had).
 */
export type SessionClientErrorCode =
  | 'REFRESH_LIMIT'
  | 'NETWORK_ERROR'
  | 'REQUEST_FAILED'
  | 'REAUTHENTICATE_FAILED'
  | 'HANDOFF_TIMEOUT';

/** A failure the client reports through `error` events. Check `code`, never the message. */
export class SessionClientError extends Error {
  readonly code: SessionClientErrorCode;
  readonly problem: ClientProblem | undefined;
  constructor(
    code: SessionClientErrorCode,
    message: string,
    problem?: ClientProblem,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SessionClientError';
    this.code = code;
    this.problem = problem;
  }
}
