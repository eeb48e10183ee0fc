/**
 * Test helpers of the orchestrator package (`@clawfleet/orchestrator/testing`): the in-process fake
 * inference backend and the fake agent runtime, for tests and benchmarks. Nothing here imports a test
 * runner; the contract suites (which need vitest) are `@clawfleet/orchestrator/contract`. Not
 * production code.
 */
export * from './fake-agent-runtime.ts';
export * from './fake-inference-backend.ts';
export * from './scripted-inference-layer.ts';
