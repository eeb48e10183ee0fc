/**
 * Reducers of the agent loop's cycles: begin, triage, phase changes, inference and tool-call
 * records, finish; the agent's live status; its wake-up schedule (periodic ticks, deferred cycles).
 * Every one of them acts for the calling agent only: an agent cannot touch another agent's cycle.
 */
import { ScheduleAt, t } from 'spacetimedb';
import type { ReducerContext } from '../context.ts';
import { type AgentRow, agentWakeSchedule, type CycleRow, type ToolCallRow } from '../tables.ts';
import { defineReducer, type ReducerDefinition } from './define-reducer.ts';
import {
  addSeconds,
  LIMITS,
  reject,
  requireAgent,
  requireDatabase,
  requireMaxLength,
  requireOneOf,
  requireRange,
  requireTask,
  requireText,
} from './guards.ts';

export const CYCLE_TRIGGER_KINDS = ['stimulus', 'task', 'message', 'lease', 'attention', 'plan'] as const;
export const CYCLE_PHASES = [
  'triaging',
  'acting',
  'delegating',
  'awaiting_approval',
  'reflecting',
  'deferred',
  'due',
  'done',
] as const;
/** Phases an agent may move an unfinished cycle to with `set_cycle_phase`. */
export const SETTABLE_CYCLE_PHASES = ['acting', 'delegating', 'awaiting_approval', 'reflecting'] as const;
export const TRIAGE_DECISIONS = ['act', 'delegate', 'defer', 'ignore'] as const;
export const CYCLE_OUTCOMES = ['success', 'partial', 'failure', 'ignored', 'delegated'] as const;
export const INFERENCE_PHASES = ['triage', 'act', 'reflect', 'repair', 'plan'] as const;
export const TOOL_CALL_FINAL_STATES = ['succeeded', 'failed', 'refused', 'interrupted'] as const;
export const AGENT_PHASES = ['idle', 'triaging', 'acting', 'delegating', 'awaiting_approval', 'reflecting'] as const;

const TRIGGER_KEY = /^[a-z]+(:[0-9]+)+$/;
const TOOL_NAME = /^[a-z][a-z0-9_.-]*$/;
/** Longest deferral: a week. */
const MAX_DEFER_SECONDS = 7 * 24 * 3_600;
const MAX_RESULT_LENGTH = LIMITS.textLength;
const U32_MAX = 0xffff_ffff;

/** The calling agent's own cycle; another agent's cycle reads as someone else's. */
export function requireOwnCycle(
  ctx: ReducerContext,
  cycleId: bigint,
  action: string,
): { agent: AgentRow; cycle: CycleRow } {
  const agent = requireAgent(ctx, action);
  const cycle = ctx.db.cycle.id.find(cycleId);
  if (cycle === null) reject(`Cycle ${cycleId} does not exist`);
  if (cycle.agent !== agent.name) reject(`Cycle ${cycleId} belongs to ${cycle.agent}; only it may ${action}`);
  return { agent, cycle };
}

function requireUnfinished(cycle: CycleRow, action: string): void {
  if (cycle.phase === 'done') reject(`Cycle ${cycle.id} is done; cannot ${action}`);
}

function addSaturating(a: number, b: number): number {
  return Math.min(U32_MAX, a + b);
}

/**
 * Starts a cycle for a trigger. At most one cycle per agent and trigger key, ever: the runtime derives
 * its queue from triggers that have none, so a second `begin_cycle` for the same trigger (a restart
 * racing itself) is rejected rather than doubling the work.
 */
export const beginCycle = defineReducer(
  {
    trigger_kind: t.string(),
    trigger_key: t.string(),
    trigger_text: t.string(),
    task_id: t.option(t.u64()),
    priority: t.u8(),
  },
  (ctx, { trigger_kind, trigger_key, trigger_text, task_id, priority }) => {
    const agent = requireAgent(ctx, 'begin cycles');
    requireOneOf('trigger_kind', trigger_kind, CYCLE_TRIGGER_KINDS);
    if (trigger_key.length > LIMITS.shortTextLength || !TRIGGER_KEY.test(trigger_key)) {
      reject(
        `Expected \`trigger_key\` to look like \`stimulus:12\` or \`task:5:1\`, got \`${trigger_key.slice(0, 40)}\``,
      );
    }
    if (!trigger_key.startsWith(`${trigger_kind}:`)) {
      reject(`Expected \`trigger_key\` to start with \`${trigger_kind}:\`, got \`${trigger_key.slice(0, 40)}\``);
    }
    requireMaxLength('trigger_text', trigger_text, LIMITS.textLength);
    requireRange('priority', priority, 0, LIMITS.maxPriority);
    if (task_id !== undefined) requireTask(ctx, task_id);
    for (const existing of ctx.db.cycle.agent.filter(agent.name)) {
      if (existing.trigger_key === trigger_key) {
        reject(`Cycle ${existing.id} of ${agent.name} already handles ${trigger_key}`);
      }
    }
    ctx.db.cycle.insert({
      id: 0n,
      agent: agent.name,
      trigger_kind,
      trigger_key,
      trigger_text,
      task_id,
      phase: 'triaging',
      decision: undefined,
      priority,
      reason: '',
      outcome: undefined,
      outcome_detail: '',
      steps: 0,
      tokens: 0,
      defer_until: undefined,
      started_at: ctx.timestamp,
      updated_at: ctx.timestamp,
      finished_at: undefined,
    });
  },
);

/**
 * Records the triage decision. `act` moves the cycle to acting, `delegate` to delegating, `defer` to
 * deferred with a wake-up `defer_seconds` later; `ignore` leaves it for `finish_cycle`.
 */
export const recordTriage = defineReducer(
  { cycle_id: t.u64(), decision: t.string(), priority: t.u8(), reason: t.string(), defer_seconds: t.u32() },
  (ctx, { cycle_id, decision, priority, reason, defer_seconds }) => {
    const { agent, cycle } = requireOwnCycle(ctx, cycle_id, 'triage it');
    if (cycle.phase !== 'triaging' && cycle.phase !== 'due') {
      reject(`Cycle ${cycle_id} is ${cycle.phase}; only a triaging or due cycle can be triaged`);
    }
    const chosen = requireOneOf('decision', decision, TRIAGE_DECISIONS);
    requireRange('priority', priority, 0, LIMITS.maxPriority);
    requireMaxLength('reason', reason, LIMITS.textLength);
    if (chosen === 'defer') requireRange('defer_seconds', defer_seconds, 1, MAX_DEFER_SECONDS);
    else if (defer_seconds !== 0) reject('Expected `defer_seconds` to be 0 unless the decision is defer');
    const deferUntil = chosen === 'defer' ? addSeconds(ctx.timestamp, defer_seconds) : undefined;
    const phase =
      chosen === 'act'
        ? 'acting'
        : chosen === 'delegate'
          ? 'delegating'
          : chosen === 'defer'
            ? 'deferred'
            : cycle.phase;
    ctx.db.cycle.id.update({
      ...cycle,
      decision: chosen,
      priority,
      reason,
      phase,
      defer_until: deferUntil,
      updated_at: ctx.timestamp,
    });
    if (deferUntil !== undefined) {
      ctx.db.agent_wake_schedule.insert({
        scheduled_id: 0n,
        scheduled_at: ScheduleAt.time(deferUntil.microsSinceUnixEpoch),
        agent: agent.name,
        cycle_id,
        interval_seconds: 0,
      });
    }
  },
);

export const setCyclePhase = defineReducer({ cycle_id: t.u64(), phase: t.string() }, (ctx, { cycle_id, phase }) => {
  const { cycle } = requireOwnCycle(ctx, cycle_id, 'change its phase');
  requireUnfinished(cycle, 'change its phase');
  requireOneOf('phase', phase, SETTABLE_CYCLE_PHASES);
  if (cycle.phase === 'deferred' || cycle.phase === 'triaging' || cycle.phase === 'due') {
    reject(`Cycle ${cycle_id} is ${cycle.phase}; triage it first`);
  }
  ctx.db.cycle.id.update({ ...cycle, phase, updated_at: ctx.timestamp });
});

/** One inference call of a cycle: adds its tokens to the cycle and keeps the call as provenance. */
export const recordCycleInference = defineReducer(
  {
    cycle_id: t.u64(),
    phase: t.string(),
    model: t.string(),
    request_id: t.string(),
    prompt_hash: t.string(),
    seed: t.option(t.u32()),
    max_tokens: t.u32(),
    tokens_in: t.u32(),
    tokens_out: t.u32(),
  },
  (ctx, { cycle_id, phase, model, request_id, prompt_hash, seed, max_tokens, tokens_in, tokens_out }) => {
    const { agent, cycle } = requireOwnCycle(ctx, cycle_id, 'record its inference');
    requireUnfinished(cycle, 'record inference');
    requireOneOf('phase', phase, INFERENCE_PHASES);
    requireText('model', model, LIMITS.shortTextLength);
    requireMaxLength('request_id', request_id, LIMITS.shortTextLength);
    if (!/^[0-9a-f]{64}$/.test(prompt_hash)) reject('Expected `prompt_hash` to be a sha256 in 64 lowercase hex digits');
    requireRange('tokens_in', tokens_in, 0, LIMITS.maxTokens);
    requireRange('tokens_out', tokens_out, 0, LIMITS.maxTokens);
    ctx.db.cycle_inference.insert({
      id: 0n,
      cycle_id,
      agent: agent.name,
      phase,
      model,
      request_id,
      prompt_hash,
      seed,
      max_tokens,
      tokens_in,
      tokens_out,
      created_at: ctx.timestamp,
    });
    ctx.db.cycle.id.update({
      ...cycle,
      tokens: addSaturating(cycle.tokens, tokens_in + tokens_out),
      updated_at: ctx.timestamp,
    });
  },
);

/**
 * Records a tool call before it runs. The idempotency key `<cycle>:<step>` is unique: recording the
 * same step twice is rejected, so a resumed cycle cannot start a step it already started.
 */
export const beginToolCall = defineReducer(
  { cycle_id: t.u64(), step: t.u32(), tool: t.string(), args: t.string(), side_effect: t.bool() },
  (ctx, { cycle_id, step, tool, args, side_effect }) => {
    const { agent, cycle } = requireOwnCycle(ctx, cycle_id, 'record its tool calls');
    if (cycle.phase !== 'acting' && cycle.phase !== 'delegating') {
      reject(`Cycle ${cycle_id} is ${cycle.phase}, not acting or delegating; cannot call tools`);
    }
    requireRange('step', step, 0, 1_000);
    if (tool.length === 0 || tool.length > LIMITS.nameLength || !TOOL_NAME.test(tool)) {
      reject(`Expected \`tool\` to be a tool name (lowercase letters, digits, _ . -), got \`${tool.slice(0, 40)}\``);
    }
    requireMaxLength('args', args, LIMITS.textLength);
    const key = `${cycle_id}:${step}`;
    const existing = ctx.db.tool_call.idempotency_key.find(key);
    if (existing !== null) reject(`Step ${step} of cycle ${cycle_id} is already recorded (${existing.state})`);
    ctx.db.tool_call.insert({
      id: 0n,
      cycle_id,
      agent: agent.name,
      step,
      idempotency_key: key,
      tool,
      args,
      side_effect,
      state: 'started',
      result_digest: '',
      result: '',
      error_code: '',
      duration_ms: 0,
      started_at: ctx.timestamp,
      finished_at: undefined,
    });
    ctx.db.cycle.id.update({
      ...cycle,
      steps: Math.max(cycle.steps, step + 1),
      updated_at: ctx.timestamp,
    });
  },
);

/** Records how a started tool call ended. Only a `started` call can be finished, once. */
export const finishToolCall = defineReducer(
  {
    idempotency_key: t.string(),
    state: t.string(),
    result_digest: t.string(),
    result: t.string(),
    error_code: t.string(),
    duration_ms: t.u32(),
  },
  (ctx, { idempotency_key, state, result_digest, result, error_code, duration_ms }) => {
    const agent = requireAgent(ctx, 'record tool calls');
    const call: ToolCallRow | null = ctx.db.tool_call.idempotency_key.find(idempotency_key);
    if (call === null) reject(`No tool call is recorded under ${idempotency_key.slice(0, 40)}`);
    if (call.agent !== agent.name) reject(`Tool call ${idempotency_key} belongs to ${call.agent}`);
    if (call.state !== 'started') reject(`Tool call ${idempotency_key} is already ${call.state}`);
    requireOneOf('state', state, TOOL_CALL_FINAL_STATES);
    if (!/^[0-9a-f]{64}$/.test(result_digest))
      reject('Expected `result_digest` to be a sha256 in 64 lowercase hex digits');
    requireMaxLength('result', result, MAX_RESULT_LENGTH);
    requireMaxLength('error_code', error_code, LIMITS.nameLength);
    if (state === 'succeeded' && error_code !== '') reject('Expected no `error_code` on a succeeded call');
    ctx.db.tool_call.id.update({
      ...call,
      state,
      result_digest,
      result,
      error_code,
      duration_ms,
      finished_at: ctx.timestamp,
    });
  },
);

/** Ends a cycle with its outcome; a deferred cycle's pending wake-up is dropped. */
export const finishCycle = defineReducer(
  { cycle_id: t.u64(), outcome: t.string(), detail: t.string() },
  (ctx, { cycle_id, outcome, detail }) => {
    const { cycle } = requireOwnCycle(ctx, cycle_id, 'finish it');
    requireUnfinished(cycle, 'finish it');
    requireOneOf('outcome', outcome, CYCLE_OUTCOMES);
    requireMaxLength('detail', detail, LIMITS.textLength);
    ctx.db.cycle.id.update({
      ...cycle,
      phase: 'done',
      outcome,
      outcome_detail: detail,
      updated_at: ctx.timestamp,
      finished_at: ctx.timestamp,
    });
  },
);

/** The agent's live status; `progress_at` moves whenever the progress text changes. */
export const reportAgentStatus = defineReducer(
  {
    phase: t.string(),
    cycle_id: t.option(t.u64()),
    task_id: t.option(t.u64()),
    progress: t.string(),
    queue_length: t.u32(),
  },
  (ctx, { phase, cycle_id, task_id, progress, queue_length }) => {
    const agent = requireAgent(ctx, 'report its status');
    requireOneOf('phase', phase, AGENT_PHASES);
    requireMaxLength('progress', progress, LIMITS.shortTextLength);
    if (cycle_id !== undefined) requireOwnCycle(ctx, cycle_id, 'report it');
    if (task_id !== undefined) requireTask(ctx, task_id);
    const existing = ctx.db.agent_status.agent.find(agent.name);
    const row = {
      agent: agent.name,
      phase,
      cycle_id,
      task_id,
      progress,
      queue_length,
      progress_at:
        existing !== null && existing.progress === progress && existing.phase === phase
          ? existing.progress_at
          : ctx.timestamp,
      updated_at: ctx.timestamp,
    };
    if (existing === null) ctx.db.agent_status.insert(row);
    else ctx.db.agent_status.agent.update(row);
  },
);

/**
 * Sets the calling agent's periodic tick (0 stops it). Setting the interval it already has keeps the
 * pending tick, so a restarting agent does not push its schedule back.
 */
export const setAgentSchedule = defineReducer({ interval_seconds: t.u32() }, (ctx, { interval_seconds }) => {
  const agent = requireAgent(ctx, 'set its schedule');
  requireRange('interval_seconds', interval_seconds, 0, MAX_DEFER_SECONDS);
  const ticks = [...ctx.db.agent_wake_schedule.iter()].filter(
    (row) => row.agent === agent.name && row.cycle_id === undefined,
  );
  if (ticks.length === 1 && ticks[0]!.interval_seconds === interval_seconds) return;
  for (const tick of ticks) ctx.db.agent_wake_schedule.delete(tick);
  if (interval_seconds === 0) return;
  ctx.db.agent_wake_schedule.insert({
    scheduled_id: 0n,
    scheduled_at: ScheduleAt.time(addSeconds(ctx.timestamp, interval_seconds).microsSinceUnixEpoch),
    agent: agent.name,
    cycle_id: undefined,
    interval_seconds,
  });
});

/**
 * Scheduled: makes a deferred cycle due, or fires an agent's tick as a `schedule` stimulus for it and
 * schedules the next one. A tick for an agent that is gone stops.
 */
export const wakeAgent: ReducerDefinition<{ schedule: typeof agentWakeSchedule.rowType }> = defineReducer(
  { schedule: agentWakeSchedule.rowType },
  (ctx, { schedule }) => {
    requireDatabase(ctx, 'wake_agent');
    if (schedule.cycle_id !== undefined) {
      const cycle = ctx.db.cycle.id.find(schedule.cycle_id);
      if (cycle === null || cycle.phase !== 'deferred') return;
      ctx.db.cycle.id.update({ ...cycle, phase: 'due', updated_at: ctx.timestamp });
      return;
    }
    if (ctx.db.agent.name.find(schedule.agent) === null || schedule.interval_seconds === 0) return;
    ctx.db.stimulus.insert({
      id: 0n,
      source: 'schedule',
      kind: 'schedule',
      text: `Scheduled check-in (every ${schedule.interval_seconds} s)`,
      priority: 1,
      target_agent: schedule.agent,
      created_by: ctx.sender,
      created_at: ctx.timestamp,
    });
    ctx.db.agent_wake_schedule.insert({
      scheduled_id: 0n,
      scheduled_at: ScheduleAt.time(addSeconds(ctx.timestamp, schedule.interval_seconds).microsSinceUnixEpoch),
      agent: schedule.agent,
      cycle_id: undefined,
      interval_seconds: schedule.interval_seconds,
    });
  },
  'scheduled',
);
