export { type AgentConnection, type ConnectAgentOptions, connectAgent } from './connect-agent.ts';
