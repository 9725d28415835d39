import { UpstreamSessionExpiredError } from 'sessionkeeper/internal/errors';
import { runDetectors } from './detectors.js';
import type { ExpiryPhase } from './events.js';
import type { ExpiryVerdict, ObservedResponse, SessionKind } from './kind.js';
import { leases } from './operation.js';
import type { PoolContext } from './pool-context.js';
import { type Entry, markExpired, type Slot } from './session-state.js';

/** The verdict carried by an `UpstreamSessionExpiredError` of `key`; undefined for any other error. */
export function expiryOf(error: unknown, key: string): ExpiryVerdict | undefined {
  if (!(error instanceof UpstreamSessionExpiredError) || error.key !== key) return undefined;
  return error.reasonDetail === undefined
    ? { reason: error.reason }
    : { reason: error.reason, detail: error.reasonDetail };
}

/** The kind's probe (or refresh); an expiry it throws is a verdict, not a failure. */
export async function probeSession<S, State>(
  kind: SessionKind<S, State>,
  entry: Entry<S>,
  what: 'check' | 'refresh',
): Promise<ExpiryVerdict | undefined> {
  try {
    return what === 'refresh' && kind.refresh
      ? await kind.refresh(entry.session, entry.ctx)
      : await kind.probe(entry.session, entry.ctx);
  } catch (error) {
    const verdict = expiryOf(error, entry.slot.group.key);
    if (verdict) return verdict;
    throw error;
  }
}

/**
 * A session's `ctx.observe`: runs the detectors on an answer it saw. On a verdict it marks the
 * session expired, hands the verdict to the operation running on it (if the answer is its own),
 * and rejects with `UpstreamSessionExpiredError`.
 */
export async function observeResponse<S, State>(
  ctx: PoolContext<S, State>,
  entry: Entry<S>,
  response: ObservedResponse,
): Promise<void> {
  const verdict = await runDetectors(ctx.options.detectors, response, (err) =>
    ctx.logger.warn({ err }, 'a detector threw; its answer is ignored'),
  );
  if (!verdict) return;
  const lease = leases.getStore();
  if (lease?.active && lease.entry === (entry as Entry<unknown>)) lease.verdict ??= verdict;
  markExpired(entry as Entry<unknown>, verdict);
  throw new UpstreamSessionExpiredError(entry.slot.group.key, verdict.reason, verdict.detail);
}

/** Counts, logs and announces (event `expired`) an expiry detected in `phase`. */
export function reportExpiry<S, State>(
  ctx: PoolContext<S, State>,
  slot: Slot<S>,
  verdict: ExpiryVerdict,
  phase: ExpiryPhase,
): void {
  const key = slot.group.key;
  slot.group.expiries++;
  ctx.metrics.expiryDetected(phase);
  ctx.logger.info(
    { key, slotId: slot.id, phase, reason: verdict.reason, detail: verdict.detail },
    'expiry detected',
  );
  ctx.events.emit('expired', {
    key,
    slotId: slot.id,
    phase,
    reason: verdict.reason,
    ...(verdict.detail === undefined ? {} : { detail: verdict.detail }),
  });
}
