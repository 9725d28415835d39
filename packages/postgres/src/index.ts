export type { PostgresUrl } from './connection-url.js';
export { parsePostgresUrl } from './connection-url.js';
export type { PostgresStoreOptions } from './create-postgres-store.js';
export { createPostgresStore, DEFAULT_SCHEMA } from './create-postgres-store.js';
export { LATEST_SCHEMA_VERSION } from './migrations.js';
export { PostgresStore } from './postgres-store.js';
