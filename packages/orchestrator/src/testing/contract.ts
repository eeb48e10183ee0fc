/**
 * The contract suites of the orchestrator's ports (`@clawfleet/orchestrator/contract`): every
 * InferenceBackend and every AgentRuntime passes its suite. They import vitest, so they stay apart
 * from `@clawfleet/orchestrator/testing`, which benchmarks import too.
 */
export * from './describe-agent-runtime-contract.ts';
export * from './describe-inference-backend-contract.ts';
