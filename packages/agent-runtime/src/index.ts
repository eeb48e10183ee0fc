export { type CycleRecord, LoopBus, loopQueries, type ToolCallRecord } from './bus/loop-bus.ts';
export { AGENT_ENVIRONMENT, type AgentProcessConfig, loadAgentProcessConfig } from './config.ts';
export { AgentLoop, type AgentLoopOptions } from './loop/agent-loop.ts';
export { CycleRunner, NEEDS_APPROVAL_TAG, runHooks, type ToolContextFactory } from './loop/cycle-runner.ts';
export type { LoopInference, LoopMemory, StructuredReply } from './ports.ts';
export * from './prompts/decision-schemas.ts';
export * from './prompts/prompts.ts';
export { computeWakeUpQueue, taskTags, type WakeEvent, type WakeUpQueueOptions } from './wake-up/wake-up-queue.ts';
