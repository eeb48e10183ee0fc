export { AGENT_ENVIRONMENT, type AgentProcessConfig, loadAgentProcessConfig } from './config.ts';
