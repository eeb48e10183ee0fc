/**
 * Test helpers of the orchestrator package (`@clawfleet/orchestrator/testing`): the in-process fake
 * inference backend and the contract suite every InferenceBackend passes. Not part of production code.
 */
export * from './describe-inference-backend-contract.ts';
export * from './fake-inference-backend.ts';
