/**
 * Hooks and reactions. A hook is a quality gate the agent runtime runs (on task_created,
 * task_completed, agent_idle) and records here with its verdict. A reaction rule turns an event into
 * a stimulus for the agent that set it: the database fires it inside the transaction that caused the
 * event, so no event is missed while the agent is down.
 */
import { t } from 'spacetimedb';
import type { ReducerContext } from '../context.ts';
import { defineReducer } from './define-reducer.ts';
import {
  LIMITS,
  reject,
  requireAgent,
  requireMaxLength,
  requireName,
  requireOneOf,
  requireRange,
  requireTask,
  requireText,
} from './guards.ts';

export const HOOK_EVENTS = ['task_created', 'task_completed', 'agent_idle'] as const;
export const HOOK_VERDICTS = ['pass', 'reject'] as const;
export const REACTION_EVENTS = ['task_failed', 'task_completed', 'hook_rejected', 'attention_expired'] as const;
export type ReactionEvent = (typeof REACTION_EVENTS)[number];

/**
 * Fires every rule for `event`: one targeted stimulus per rule and a firing record. A rule never fires
 * for an event its own agent caused (`causedBy`), so an agent does not wake itself in a loop.
 */
export function fireReactions(
  ctx: ReducerContext,
  event: ReactionEvent,
  source: { kind: string; id: bigint; causedBy: string | undefined; text: string },
): void {
  for (const rule of [...ctx.db.reaction_rule.iter()]) {
    if (rule.event !== event || rule.agent === source.causedBy) continue;
    if (ctx.db.agent.name.find(rule.agent) === null) continue;
    const stimulus = ctx.db.stimulus.insert({
      id: 0n,
      source: 'reaction',
      kind: event,
      text: source.text.slice(0, LIMITS.textLength),
      priority: rule.priority,
      target_agent: rule.agent,
      created_by: ctx.sender,
      created_at: ctx.timestamp,
    });
    ctx.db.reaction_firing.insert({
      id: 0n,
      rule_id: rule.id,
      agent: rule.agent,
      event,
      source_kind: source.kind,
      source_id: source.id,
      stimulus_id: stimulus.id,
      created_at: ctx.timestamp,
    });
  }
}

/** Records a hook run; a rejection fires `hook_rejected` reactions. */
export const recordHookRun = defineReducer(
  {
    hook: t.string(),
    event: t.string(),
    task_id: t.option(t.u64()),
    cycle_id: t.option(t.u64()),
    verdict: t.string(),
    reason: t.string(),
  },
  (ctx, { hook, event, task_id, cycle_id, verdict, reason }) => {
    const agent = requireAgent(ctx, 'record hook runs');
    requireName('hook', hook);
    requireOneOf('event', event, HOOK_EVENTS);
    requireOneOf('verdict', verdict, HOOK_VERDICTS);
    if (verdict === 'reject') requireText('reason', reason, LIMITS.textLength);
    else requireMaxLength('reason', reason, LIMITS.textLength);
    if (task_id !== undefined) requireTask(ctx, task_id);
    if (cycle_id !== undefined) {
      const cycle = ctx.db.cycle.id.find(cycle_id);
      if (cycle === null || cycle.agent !== agent.name) reject(`Cycle ${cycle_id} is not ${agent.name}'s`);
    }
    const run = ctx.db.hook_run.insert({
      id: 0n,
      agent: agent.name,
      hook,
      event,
      task_id,
      cycle_id,
      verdict,
      reason,
      created_at: ctx.timestamp,
    });
    if (verdict === 'reject') {
      fireReactions(ctx, 'hook_rejected', {
        kind: 'hook_run',
        id: run.id,
        causedBy: agent.name,
        text: `Hook ${hook} rejected ${event}${task_id === undefined ? '' : ` of task ${task_id}`} for ${agent.name}: ${reason}`,
      });
    }
  },
);

/** Sets (or with `enabled` false, removes) the calling agent's reaction to `event`. */
export const setReaction = defineReducer(
  { event: t.string(), priority: t.u8(), enabled: t.bool() },
  (ctx, { event, priority, enabled }) => {
    const agent = requireAgent(ctx, 'set reactions');
    requireOneOf('event', event, REACTION_EVENTS);
    requireRange('priority', priority, 0, LIMITS.maxPriority);
    const existing = [...ctx.db.reaction_rule.agent.filter(agent.name)].find((rule) => rule.event === event);
    if (existing !== undefined) {
      if (enabled) ctx.db.reaction_rule.id.update({ ...existing, priority });
      else ctx.db.reaction_rule.id.delete(existing.id);
      return;
    }
    if (enabled) ctx.db.reaction_rule.insert({ id: 0n, agent: agent.name, event, priority, created_at: ctx.timestamp });
  },
);
