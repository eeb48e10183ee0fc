export {
  AGENT_PHASES,
  type AgentDefinition,
  type AgentJson,
  type AgentLimits,
  type AgentPhase,
  agentJsonSchema,
  type ContainerSettings,
  HOOK_EVENTS,
  type HookDefinition,
  type ModelSettings,
  type PhaseSettings,
  REACTION_EVENTS,
  type ReactionDefinition,
  type WakeUpScope,
} from './agent-definition.ts';
export {
  BUILT_IN_AGENTS_DIRECTORY,
  IDENTITY_FILES,
  loadAgent,
  loadAgentDefinition,
  loadAgentDefinitions,
} from './load-agents.ts';
