/**
 * Test helpers of the memory package (`@clawfleet/memory/testing`): the in-memory fake store, the
 * deterministic hashing embedder, and the contract suites every MemoryStore and Embedder passes.
 * Not part of production code (the contract suites import vitest).
 */
export * from './embedder-contract.ts';
export * from './hashing-embedder.ts';
export * from './in-memory-memory-store.ts';
export * from './memory-store-contract.ts';
