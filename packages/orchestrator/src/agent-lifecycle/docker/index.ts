export * from './container-spec.ts';
export * from './docker-agent-runtime.ts';
export * from './docker-engine.ts';
