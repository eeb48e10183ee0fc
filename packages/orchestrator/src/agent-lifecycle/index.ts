export * from './agent-runtime.ts';
export * from './agent-supervisor.ts';
export * from './docker/index.ts';
export * from './process/process-agent-runtime.ts';
