export {
  AGENT_PHASES,
  type AgentDefinition,
  type AgentJson,
  type AgentLimits,
  type AgentPhase,
  agentJsonSchema,
  type ModelSettings,
  type PhaseSettings,
  type WakeUpScope,
} from './agent-definition.ts';
export {
  BUILT_IN_AGENTS_DIRECTORY,
  IDENTITY_FILES,
  loadAgent,
  loadAgentDefinition,
  loadAgentDefinitions,
} from './load-agents.ts';
