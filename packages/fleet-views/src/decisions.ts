import { type BusRow, ClawError } from '@clawfleet/protocol';
import type { FleetConnection } from './fleet-connection.ts';

export const ATTENTION_STATES = ['open', 'resolved', 'withdrawn', 'expired', 'all'] as const;
export type AttentionState = (typeof ATTENTION_STATES)[number];
export const PLAN_STATES = ['pending', 'approved', 'rejected', 'withdrawn', 'all'] as const;
export type PlanState = (typeof PLAN_STATES)[number];

/** Attention requests in one state (`all` for every one), most urgent first. */
export async function listAttention(connection: FleetConnection, state: AttentionState): Promise<BusRow[]> {
  return (await connection.query('attention_request', state === 'all' ? {} : { state })).sort(
    (a, b) => Number(b.priority) - Number(a.priority) || Number(a.id) - Number(b.id),
  );
}

/** Answers an open attention request as this connection's identity; returns the request as it was. */
export async function resolveAttention(connection: FleetConnection, id: number, resolution: string): Promise<BusRow> {
  const [request] = await connection.query('attention_request', { id });
  if (!request)
    throw new ClawError(
      'NOT_FOUND',
      `Attention request ${id} does not exist (\`claw attention --state all\` lists them)`,
    );
  await connection.call('resolve_attention', { attention_request_id: id, resolution });
  return request;
}

/** Plans in one state (`all` for every one), oldest first. */
export async function listPlans(connection: FleetConnection, state: PlanState): Promise<BusRow[]> {
  return (await connection.query('plan', state === 'all' ? {} : { state })).sort((a, b) => Number(a.id) - Number(b.id));
}

/** Approves or rejects a pending plan as this connection's identity; returns the plan's agent. */
export async function decidePlan(
  connection: FleetConnection,
  id: number,
  approve: boolean,
  reason: string,
): Promise<string> {
  const [plan] = await connection.query('plan', { id });
  if (!plan) throw new ClawError('NOT_FOUND', `Plan ${id} does not exist (\`claw plans --state all\` lists them)`);
  await connection.call('decide_plan', { plan_id: id, approve, reason });
  return String(plan.agent);
}
