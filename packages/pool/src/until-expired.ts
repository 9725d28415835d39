import type { Entry } from './session-state.js';

/** How a run on a one-at-a-time session ended: with the operation, or with its session's expiry. */
export type RunOutcome<T> = { abandoned: false; value: T } | { abandoned: true };

/**
 * Waits for `running`, or only until `entry` is marked expired. On a one-at-a-time session (a
 * browser page) an expiry found while the operation runs is the operation's own, and what it is
 * still waiting for (an element only a logged-in user sees, a navigation the logged-out page
 * never makes) may never come: the pool stops waiting at once and reruns it on a fresh session,
 * without relying on closing the page to end those waits. The abandoned run's outcome is ignored;
 * destroying its session (closing the browser context) ends what it still does.
 */
export function untilExpired<T>(
  running: Promise<T>,
  entry: Entry<unknown>,
): Promise<RunOutcome<T>> {
  return new Promise<RunOutcome<T>>((resolve, reject) => {
    const onExpired = () => {
      running.catch(() => {}); // its failure, once its page is gone, is no one's business
      resolve({ abandoned: true });
    };
    if (entry.expired) {
      onExpired();
      return;
    }
    entry.onExpired.add(onExpired);
    running.then(
      (value) => {
        entry.onExpired.delete(onExpired);
        resolve({ abandoned: false, value });
      },
      (error: unknown) => {
        entry.onExpired.delete(onExpired);
        reject(error);
      },
    );
  });
}
