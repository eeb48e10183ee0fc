/**
 * Test helpers of the memory package (`@clawfleet/memory/testing`): the in-memory fake store, the
 * deterministic hashing embedder and the labelled retrieval set. Free of vitest, so benchmarks may
 * use them; the contract suites have their own entry, `@clawfleet/memory/contract`.
 */
export * from './hashing-embedder.ts';
export * from './in-memory-memory-store.ts';
export * from './labelled-memories.ts';
