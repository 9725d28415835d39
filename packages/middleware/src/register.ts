import type { SessionData } from 'sessionkeeper/internal/types';

/**
 * Declare your session data type once, and `req.sessionkeeper` (Express) and
 * `request.sessionkeeper` (Fastify) are typed with it:
 *
 * ```ts
 * declare module '@sessionkeeper/express' {
 *   interface SessionkeeperRegister { data: { cart: string[] } }
 * }
 * ```
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled by the app through declaration merging
export interface SessionkeeperRegister {}

/** The session data type the app registered, or a plain JSON object. */
export type RegisteredData = SessionkeeperRegister extends { data: infer D extends SessionData }
  ? D
  : SessionData;
