export type { StoreFactory, TestRunner } from './conformance.js';
export { conformanceCaseNames, describeStoreConformance } from './conformance.js';
