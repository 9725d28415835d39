export type { FleetStats as BrowserFleetStats } from './browser-fleet.js';
export type {
  BrowserSessionKind,
  BrowserSessionKindOptions,
  BrowserSessionState,
} from './browser-kind.js';
export {
  browserSessionKind,
  DEFAULT_CHROMIUM_ARGS,
  DEFAULT_CHROMIUM_PATH,
} from './browser-kind.js';
export type { BrowserGotoOptions, BrowserSession } from './browser-session.js';
