/** `seconds` in ms, spread by ± `jitter` (a fraction; `direction` -1: only shorter). */
export function jitteredMs(seconds: number, jitter: number, direction: 1 | -1 = 1): number {
  const spread = jitter * (direction === 1 ? Math.random() * 2 - 1 : -Math.random());
  return seconds * 1000 * (1 + spread);
}
