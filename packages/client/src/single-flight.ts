/**
 * Wraps `run` so that calls made while one is in flight share its promise: N concurrent callers
 * cause one run, with the first caller's argument (what the run is about is fixed when it starts).
 * The next call after it settles starts a new one.
 */
export function singleFlight<T, A = void>(run: (arg: A) => Promise<T>): (arg: A) => Promise<T> {
  let current: Promise<T> | undefined;
  return (arg) => {
    current ??= run(arg).finally(() => {
      current = undefined;
    });
    return current;
  };
}
