/**
 * Test helpers of the orchestrator package (`@clawfleet/orchestrator/testing`): the in-process fake
 * inference backend and the contract suite every InferenceBackend passes; the fake agent runtime,
 * the stand-in agent script and the contract suite every AgentRuntime passes. Not production code.
 */

export * from './describe-agent-runtime-contract.ts';
export * from './describe-inference-backend-contract.ts';
export * from './fake-agent-runtime.ts';
export * from './fake-inference-backend.ts';
