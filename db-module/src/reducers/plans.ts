/**
 * Plan approval for risky work: an agent submits a plan for a cycle and waits; an admin (a human,
 * through the CLI) or an agent granted plan approval (LeadClaw) approves or rejects it.
 */
import { t } from 'spacetimedb';
import type { ReducerContext } from '../context.ts';
import type { PlanRow } from '../tables.ts';
import { requireOwnCycle } from './cycles.ts';
import { defineReducer } from './define-reducer.ts';
import {
  isAdmin,
  LIMITS,
  reject,
  requireAdmin,
  requireAgent,
  requireMaxLength,
  requireRegisteredAgentName,
  requireText,
} from './guards.ts';

export const PLAN_STATES = ['pending', 'approved', 'rejected', 'withdrawn'] as const;
const MAX_PLAN_TOOLS = 32;

function requirePendingPlan(ctx: ReducerContext, planId: bigint): PlanRow {
  const plan = ctx.db.plan.id.find(planId);
  if (plan === null) reject(`Plan ${planId} does not exist`);
  if (plan.state !== 'pending') reject(`Plan ${planId} is already ${plan.state}`);
  return plan;
}

/** Submits a plan for the caller's own cycle, which then waits in `awaiting_approval`. */
export const submitPlan = defineReducer(
  { cycle_id: t.u64(), text: t.string(), tools: t.array(t.string()) },
  (ctx, { cycle_id, text, tools }) => {
    const { agent, cycle } = requireOwnCycle(ctx, cycle_id, 'submit a plan for it');
    if (cycle.phase !== 'acting' && cycle.phase !== 'awaiting_approval') {
      reject(`Cycle ${cycle_id} is ${cycle.phase}; a plan is submitted while acting`);
    }
    requireText('text', text, LIMITS.textLength);
    if (tools.length > MAX_PLAN_TOOLS) reject(`Expected \`tools\` to list at most ${MAX_PLAN_TOOLS} tools`);
    for (const tool of tools) requireText('tools[]', tool, LIMITS.nameLength);
    for (const existing of ctx.db.plan.agent.filter(agent.name)) {
      if (existing.cycle_id === cycle_id && existing.state === 'pending') {
        reject(`Plan ${existing.id} for cycle ${cycle_id} is still pending`);
      }
    }
    ctx.db.plan.insert({
      id: 0n,
      agent: agent.name,
      cycle_id,
      task_id: cycle.task_id,
      text,
      tools,
      state: 'pending',
      decided_by: undefined,
      decision_reason: undefined,
      created_at: ctx.timestamp,
      decided_at: undefined,
    });
    ctx.db.cycle.id.update({ ...cycle, phase: 'awaiting_approval', updated_at: ctx.timestamp });
  },
);

/** Approves or rejects a pending plan: an admin, or an agent granted approval, never the plan's own agent. */
export const decidePlan = defineReducer(
  { plan_id: t.u64(), approve: t.bool(), reason: t.string() },
  (ctx, { plan_id, approve, reason }) => {
    let decidedBy: string;
    if (isAdmin(ctx)) decidedBy = 'admin';
    else {
      const agent = requireAgent(ctx, 'decide plans');
      if (ctx.db.plan_approver.agent.find(agent.name) === null) {
        reject(`${agent.name} may not decide plans; only an admin or a plan approver may`);
      }
      decidedBy = agent.name;
    }
    requireMaxLength('reason', reason, LIMITS.textLength);
    if (!approve) requireText('reason', reason, LIMITS.textLength);
    const plan = requirePendingPlan(ctx, plan_id);
    if (plan.agent === decidedBy) reject(`Plan ${plan_id} is ${decidedBy}'s own; another approver must decide it`);
    ctx.db.plan.id.update({
      ...plan,
      state: approve ? 'approved' : 'rejected',
      decided_by: decidedBy,
      decision_reason: reason,
      decided_at: ctx.timestamp,
    });
  },
);

export const withdrawPlan = defineReducer({ plan_id: t.u64() }, (ctx, { plan_id }) => {
  const agent = requireAgent(ctx, 'withdraw plans');
  const plan = requirePendingPlan(ctx, plan_id);
  if (plan.agent !== agent.name) reject(`Plan ${plan_id} belongs to ${plan.agent}; only it may withdraw it`);
  ctx.db.plan.id.update({ ...plan, state: 'withdrawn', decided_at: ctx.timestamp });
});

/** An admin lets an agent (LeadClaw) approve other agents' plans, or takes that away. */
export const setPlanApprover = defineReducer({ agent: t.string(), allowed: t.bool() }, (ctx, { agent, allowed }) => {
  requireAdmin(ctx, 'grant plan approval');
  requireRegisteredAgentName(ctx, 'agent', agent);
  const existing = ctx.db.plan_approver.agent.find(agent);
  if (allowed && existing === null) ctx.db.plan_approver.insert({ agent, granted_at: ctx.timestamp });
  if (!allowed && existing !== null) ctx.db.plan_approver.agent.delete(agent);
});
