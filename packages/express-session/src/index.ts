export type {
  SessionkeeperStoreOptions,
  SessionRejection,
  UserField,
} from './sessionkeeper-store.js';
export {
  SessionkeeperStore,
  UnsupportedStoreOperationError,
  USER_CHANGED_REASON,
} from './sessionkeeper-store.js';
