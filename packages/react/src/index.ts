export type { SessionExpiryWarningProps } from './session-expiry-warning.js';
export { SessionExpiryWarning } from './session-expiry-warning.js';
export type { ExpiryWarning, UseSession } from './session-provider.js';
export { SessionProvider, useExpiryWarning, useSession } from './session-provider.js';
