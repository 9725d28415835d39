/**
 * Wraps `run` so that calls made while one is in flight share its promise: N concurrent callers
 * cause one run. The next call after it settles starts a new one.
 */
export function singleFlight<T>(run: () => Promise<T>): () => Promise<T> {
  let current: Promise<T> | undefined;
  return () => {
    current ??= run().finally(() => {
      current = undefined;
    });
    return current;
  };
}
