import { type BusRow, ClawError } from '@clawfleet/protocol';
import type { OrchestratorConnection } from '../connection/orchestrator-connection.ts';

/** The registered agents, by name. */
export async function agentRows(connection: OrchestratorConnection): Promise<BusRow[]> {
  const rows = await connection.query('agent');
  return rows.sort((a, b) => String(a.name).localeCompare(String(b.name)));
}

/** Checks that `name` is a registered agent; NOT_FOUND lists the ones that are. */
export async function requireAgentName(connection: OrchestratorConnection, name: string): Promise<BusRow> {
  const agents = await agentRows(connection);
  const agent = agents.find((row) => row.name === name);
  if (agent) return agent;
  const known = agents.map((row) => String(row.name));
  const similar = known.find((candidate) => candidate.toLowerCase() === name.toLowerCase());
  throw new ClawError(
    'NOT_FOUND',
    `Unknown agent \`${name}\`${similar ? `; did you mean ${similar}?` : ''} (agents: ${known.join(', ') || 'none registered'})`,
  );
}
