import type { AdminStatusResult, BusRow } from '@clawfleet/protocol';
import { agentRows } from './agents.ts';
import type { FleetConnection } from './fleet-connection.ts';

/** One agent as `claw status` shows it: presence, loop phase, supervision, current task, tokens. */
export interface AgentStatusView {
  name: string;
  role: string;
  online: boolean;
  status: string;
  phase: string | null;
  progress: string | null;
  queueLength: number;
  cycleId: unknown;
  lastProgressAt: unknown;
  supervision: NonNullable<AdminStatusResult['agents'][number]['supervision']> | null;
  currentTask: { id: unknown; title: unknown } | null;
  lastHeartbeatAt: unknown;
  tokensUsed: number;
}

export interface FleetStatus {
  orchestrator: AdminStatusResult;
  agents: AgentStatusView[];
}

/** The whole fleet at a glance: the orchestrator (pool, bus, process) and every registered agent. */
export async function fleetStatus(connection: FleetConnection): Promise<FleetStatus> {
  const [status, agents, claimed, phases, usage] = await Promise.all([
    connection.status(),
    agentRows(connection),
    connection.query('task', { state: 'claimed' }),
    connection.query('agent_status'),
    connection.sql(
      'SELECT agent, SUM(prompt_tokens) AS tokens_in, SUM(completion_tokens) AS tokens_out, COUNT(*) AS requests FROM inference_usage GROUP BY agent',
      1000,
    ),
  ]);
  const tokensByAgent = new Map(usage.rows.map((row) => [String(row[0]), Number(row[1]) + Number(row[2])]));
  return {
    orchestrator: status,
    agents: agents.map((agent: BusRow) => {
      const task = claimed.find((row) => row.owner === agent.name);
      const loop = phases.find((row) => row.agent === agent.name);
      const supervision = status.agents.find((configured) => configured.name === agent.name)?.supervision;
      return {
        name: String(agent.name),
        role: String(agent.role),
        online: agent.online === true,
        status: String(agent.status),
        phase: loop ? String(loop.phase) : null,
        progress: loop ? String(loop.progress) : null,
        queueLength: loop ? Number(loop.queue_length) : 0,
        cycleId: loop?.cycle_id ?? null,
        lastProgressAt: loop?.progress_at ?? null,
        supervision: supervision ?? null,
        currentTask: task ? { id: task.id, title: task.title } : null,
        lastHeartbeatAt: agent.last_heartbeat_at,
        tokensUsed: tokensByAgent.get(String(agent.name)) ?? 0,
      };
    }),
  };
}
