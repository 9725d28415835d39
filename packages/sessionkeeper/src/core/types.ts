/** Session data: a JSON object. Its serialized size is limited (16 KiB by default). */
export type SessionData = Record<string, unknown>;

export type SessionStatus = 'active' | 'expired' | 'revoked';

/** How a session ended: `idle` / `absolute` for expiry, otherwise the revoke reason. */
export type EndReason = 'idle' | 'absolute' | (string & {});

/** A session as the public API returns it. Durations are in seconds; instants are Dates. */
export interface Session<Data extends SessionData = SessionData> {
  /** Public identifier; not a secret. */
  readonly id: string;
  /** The user or account the session belongs to. */
  readonly subject: string;
  readonly data: Data;
  readonly createdAt: Date;
  readonly lastActiveAt: Date;
  readonly idleTimeoutSeconds: number;
  readonly absoluteExpiresAt: Date;
  /** When the session ends if nothing else happens (idle deadline, lease or absolute deadline). */
  readonly expiresAt: Date;
  readonly status: SessionStatus;
  /** Set once the session has ended. */
  readonly endReason: EndReason | null;
  readonly endedAt: Date | null;
}

/** What a session-holder learns about its session on each validation. */
export interface SessionTiming {
  /** Seconds until the idle deadline (leases included), never more than `absoluteRemainingSeconds`. */
  readonly idleRemainingSeconds: number;
  /** Seconds until the absolute deadline. */
  readonly absoluteRemainingSeconds: number;
  readonly ageSeconds: number;
}

/** Every event type, in the order a session's life produces them. */
export const EVENT_TYPES = [
  'created',
  'expired',
  'revoked',
  'evicted',
  'refresh.rotated',
  'refresh.reused',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

/** A session lifecycle event. Delivered at least once, normally exactly once, across all instances. */
export interface SessionEvent<Data extends SessionData = SessionData> {
  /** Unique per event: use it to de-duplicate. */
  readonly id: string;
  readonly type: EventType;
  readonly at: Date;
  /** `idle` | `absolute` for `expired`; the revoke reason for `revoked`; `evicted` for `evicted`; null for `refresh.rotated`. */
  readonly reason: string | null;
  /** The session as it was when the event happened, data included (so hooks can clean up). */
  readonly session: Session<Data>;
}
