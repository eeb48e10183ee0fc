import { type BusRow, ClawError } from '@clawfleet/protocol';
import type { FleetConnection } from './fleet-connection.ts';

/** The registered agents, by name. */
export async function agentRows(connection: FleetConnection): Promise<BusRow[]> {
  const rows = await connection.query('agent');
  return rows.sort((a, b) => String(a.name).localeCompare(String(b.name)));
}

/** Checks that `name` is a registered agent; NOT_FOUND lists the ones that are. */
export async function requireAgentName(connection: FleetConnection, name: string): Promise<BusRow> {
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

/** One supervised agent as `claw agents` shows it. */
export interface AgentSummary {
  name: string;
  modelId: string;
  online: boolean;
  lastHeartbeatAt: unknown;
  supervision: NonNullable<Awaited<ReturnType<FleetConnection['status']>>['agents'][number]['supervision']> | null;
}

/** The configured agents with their database presence and their supervision state. */
export async function listAgents(connection: FleetConnection): Promise<AgentSummary[]> {
  const [status, rows] = await Promise.all([connection.status(), agentRows(connection)]);
  return status.agents.map((agent) => {
    const row = rows.find((candidate) => candidate.name === agent.name);
    return {
      name: agent.name,
      modelId: agent.modelId,
      online: row?.online === true,
      lastHeartbeatAt: row?.last_heartbeat_at ?? null,
      supervision: agent.supervision ?? null,
    };
  });
}
