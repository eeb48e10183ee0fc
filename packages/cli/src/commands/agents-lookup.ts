// The lookups live in fleet-views, shared with the HTTP API; re-exported for the commands that import them here.
export { agentRows, requireAgentName } from '@clawfleet/fleet-views';
