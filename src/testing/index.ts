export { describeStoreConformance } from './conformance.js';
export type { StoreFactory } from './conformance.js';
