export type { StoreFactory } from './conformance.js';
export { describeStoreConformance } from './conformance.js';
