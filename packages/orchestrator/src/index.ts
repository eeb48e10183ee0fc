export * from './agent-lifecycle/index.ts';
export * from './config/config.ts';
export * from './inference/backend.ts';
export * from './inference/service/index.ts';
export * from './inference/slot-pool/index.ts';
export * from './inference/worker/index.ts';
export * from './orchestrator.ts';
export * from './provenance/index.ts';
export { loadOrCreateTokens } from './tokens/token-store.ts';
