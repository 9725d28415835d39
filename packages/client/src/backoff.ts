export interface RetryOptions {
  /** Retries after a network error, a 503 `store-unavailable` or a 429. Default 5. */
  retries?: number;
  /** First delay; each retry doubles it. Default 300 ms. */
  baseDelayMs?: number;
  /** Longest delay, `Retry-After` included. Default 15 000 ms. */
  maxDelayMs?: number;
}

/** Exponential backoff with jitter (half fixed, half random); a `Retry-After` is a floor. */
export function backoffDelay(
  attempt: number,
  options: RetryOptions,
  retryAfterSeconds?: number,
): number {
  const max = options.maxDelayMs ?? 15_000;
  const ceiling = Math.min(max, (options.baseDelayMs ?? 300) * 2 ** attempt);
  const jittered = ceiling / 2 + (Math.random() * ceiling) / 2;
  return Math.min(max, Math.max(jittered, (retryAfterSeconds ?? 0) * 1000));
}

export function sleep(ms: number, signal?: AbortSignal | null): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
