export type {
  SessionkeeperStoreOptions,
  SessionRejection,
  UserField,
} from './sessionkeeper-store.js';
export {
  SessionkeeperStore,
  USER_CHANGED_REASON,
  UnsupportedStoreOperationError,
} from './sessionkeeper-store.js';
