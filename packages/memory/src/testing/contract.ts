// The contract suites import vitest, so they have their own entry: `@clawfleet/memory/contract`.
export * from './embedder-contract.ts';
export * from './memory-store-contract.ts';
