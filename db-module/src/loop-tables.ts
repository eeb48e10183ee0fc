/**
 * Tables of the agent loop (packages/agent-runtime): cycles, their inference calls and tool calls,
 * plans awaiting approval, hook runs, reaction rules and firings, each agent's live status, and the
 * schedule that wakes agents (periodic ticks and deferred cycles). Part of the one schema in
 * tables.ts; kept in their own file because they change with the loop, not with the bus.
 *
 * Everything here is public (agents and people watch each other's work) except the schedule.
 */
import { type Infer, t, table } from 'spacetimedb';

/**
 * One Triage → Act → Reflect pass of one agent over one trigger. `trigger_key` names what woke the
 * agent (`stimulus:12`, `task:5:1`, `message:7`, `lease:5:2`, `attention:3`, `plan:4`); an agent
 * has at most one cycle per trigger key, which is what makes the wake-up queue derivable from the
 * database: a trigger with no cycle is still to do, a cycle not `done` is to resume.
 */
export const cycleColumns = {
  id: t.u64().primaryKey().autoInc(),
  agent: t.string().index('btree'),
  /** stimulus | task | message | lease | attention | plan */
  trigger_kind: t.string(),
  trigger_key: t.string(),
  /** The stimulus, message or task text the cycle started from (as the agent saw it). */
  trigger_text: t.string(),
  task_id: t.option(t.u64()),
  /** triaging | acting | delegating | awaiting_approval | reflecting | deferred | due | done */
  phase: t.string(),
  /** act | delegate | defer | ignore, once triaged. */
  decision: t.option(t.string()),
  /** 0 (lowest) to 9, from the trigger and then from triage. */
  priority: t.u8(),
  /** The triage reason. */
  reason: t.string(),
  /** success | partial | failure | ignored | delegated, once done. */
  outcome: t.option(t.string()),
  /** Why the cycle ended as it did (the finish outcome, a limit, a rejection, malformed output). */
  outcome_detail: t.string(),
  /** Act steps recorded so far (tool calls and refused decisions). */
  steps: t.u32(),
  /** Prompt + completion tokens of every inference call of this cycle. */
  tokens: t.u32(),
  defer_until: t.option(t.timestamp()),
  started_at: t.timestamp(),
  updated_at: t.timestamp(),
  finished_at: t.option(t.timestamp()),
};
const cycleOptions = { name: 'cycle', public: true } as const;
export const cycle: ReturnType<typeof table<typeof cycleColumns, typeof cycleOptions>> = table(
  cycleOptions,
  cycleColumns,
);
export type CycleRow = Infer<typeof cycleColumns>;

/** One inference call made by a cycle, as the agent saw it: provenance for its reflection. */
export const cycleInferenceColumns = {
  id: t.u64().primaryKey().autoInc(),
  cycle_id: t.u64().index('btree'),
  agent: t.string().index('btree'),
  /** triage | act | reflect | repair */
  phase: t.string(),
  model: t.string(),
  /** The orchestrator's request id when it returns one, for joining with inference_usage and logs. */
  request_id: t.string(),
  /** sha256 of the prompt (hex), so the same prompt can be recognised without storing it. */
  prompt_hash: t.string(),
  seed: t.option(t.u32()),
  max_tokens: t.u32(),
  tokens_in: t.u32(),
  tokens_out: t.u32(),
  created_at: t.timestamp(),
};
const cycleInferenceOptions = { name: 'cycle_inference', public: true } as const;
export const cycleInference: ReturnType<typeof table<typeof cycleInferenceColumns, typeof cycleInferenceOptions>> =
  table(cycleInferenceOptions, cycleInferenceColumns);
export type CycleInferenceRow = Infer<typeof cycleInferenceColumns>;

/**
 * One tool call, recorded before it runs (`started`) and after (`succeeded`, `failed`). Refused
 * decisions (a tool not on the allowlist, arguments that fail the schema) are recorded as `refused`.
 * `idempotency_key` is `<cycle id>:<step>`: a resumed cycle finds the call it already made and does
 * not run a side effect twice; a call left `started` by a killed process becomes `interrupted`.
 */
export const toolCallColumns = {
  id: t.u64().primaryKey().autoInc(),
  cycle_id: t.u64().index('btree'),
  agent: t.string(),
  step: t.u32(),
  idempotency_key: t.string().unique(),
  tool: t.string(),
  /** The arguments as JSON. */
  args: t.string(),
  side_effect: t.bool(),
  /** started | succeeded | failed | refused | interrupted */
  state: t.string(),
  /** sha256 (hex) of the full result (or error) text. */
  result_digest: t.string(),
  /** The result (or error) as the model saw it, capped. */
  result: t.string(),
  /** The ClawError code of a failure or refusal; empty otherwise. */
  error_code: t.string(),
  duration_ms: t.u32(),
  started_at: t.timestamp(),
  finished_at: t.option(t.timestamp()),
};
const toolCallOptions = { name: 'tool_call', public: true } as const;
export const toolCall: ReturnType<typeof table<typeof toolCallColumns, typeof toolCallOptions>> = table(
  toolCallOptions,
  toolCallColumns,
);
export type ToolCallRow = Infer<typeof toolCallColumns>;

/** A plan for risky work: the cycle waits in `awaiting_approval` until it is approved or rejected. */
export const planColumns = {
  id: t.u64().primaryKey().autoInc(),
  agent: t.string().index('btree'),
  cycle_id: t.u64(),
  task_id: t.option(t.u64()),
  text: t.string(),
  /** The tools the plan will use that need approval. */
  tools: t.array(t.string()),
  /** pending | approved | rejected | withdrawn */
  state: t.string().index('btree'),
  /** The approving agent's name, or `admin`. */
  decided_by: t.option(t.string()),
  decision_reason: t.option(t.string()),
  created_at: t.timestamp(),
  decided_at: t.option(t.timestamp()),
};
const planOptions = { name: 'plan', public: true } as const;
export const plan: ReturnType<typeof table<typeof planColumns, typeof planOptions>> = table(planOptions, planColumns);
export type PlanRow = Infer<typeof planColumns>;

/** Agents (besides admins) that may approve or reject other agents' plans; granted by an admin. */
export const planApproverColumns = {
  agent: t.string().primaryKey(),
  granted_at: t.timestamp(),
};
const planApproverOptions = { name: 'plan_approver', public: true } as const;
export const planApprover: ReturnType<typeof table<typeof planApproverColumns, typeof planApproverOptions>> = table(
  planApproverOptions,
  planApproverColumns,
);
export type PlanApproverRow = Infer<typeof planApproverColumns>;

/** One run of a quality gate (hook) on task_created, task_completed or agent_idle. */
export const hookRunColumns = {
  id: t.u64().primaryKey().autoInc(),
  agent: t.string().index('btree'),
  hook: t.string(),
  /** task_created | task_completed | agent_idle */
  event: t.string(),
  task_id: t.option(t.u64()),
  cycle_id: t.option(t.u64()),
  /** pass | reject */
  verdict: t.string(),
  reason: t.string(),
  created_at: t.timestamp(),
};
const hookRunOptions = { name: 'hook_run', public: true } as const;
export const hookRun: ReturnType<typeof table<typeof hookRunColumns, typeof hookRunOptions>> = table(
  hookRunOptions,
  hookRunColumns,
);
export type HookRunRow = Infer<typeof hookRunColumns>;

/** A rule turning an event into a stimulus for `agent` (who set it for itself). */
export const reactionRuleColumns = {
  id: t.u64().primaryKey().autoInc(),
  agent: t.string().index('btree'),
  /** task_failed | task_completed | hook_rejected | attention_expired */
  event: t.string(),
  priority: t.u8(),
  created_at: t.timestamp(),
};
const reactionRuleOptions = { name: 'reaction_rule', public: true } as const;
export const reactionRule: ReturnType<typeof table<typeof reactionRuleColumns, typeof reactionRuleOptions>> = table(
  reactionRuleOptions,
  reactionRuleColumns,
);
export type ReactionRuleRow = Infer<typeof reactionRuleColumns>;

/** A rule that fired: which event, from which row, and the stimulus it created. */
export const reactionFiringColumns = {
  id: t.u64().primaryKey().autoInc(),
  rule_id: t.u64(),
  agent: t.string().index('btree'),
  event: t.string(),
  /** task | hook_run | attention_request */
  source_kind: t.string(),
  source_id: t.u64(),
  stimulus_id: t.u64(),
  created_at: t.timestamp(),
};
const reactionFiringOptions = { name: 'reaction_firing', public: true } as const;
export const reactionFiring: ReturnType<typeof table<typeof reactionFiringColumns, typeof reactionFiringOptions>> =
  table(reactionFiringOptions, reactionFiringColumns);
export type ReactionFiringRow = Infer<typeof reactionFiringColumns>;

/**
 * What each agent is doing now, so a stall shows in the database: `progress_at` moves on every step;
 * an agent whose `phase` is not idle and whose `progress_at` is old is stuck.
 */
export const agentStatusColumns = {
  agent: t.string().primaryKey(),
  /** idle | triaging | acting | awaiting_approval | reflecting */
  phase: t.string(),
  cycle_id: t.option(t.u64()),
  task_id: t.option(t.u64()),
  /** The last progress, in words ("step 3: files.read"). */
  progress: t.string(),
  /** Events waiting in the agent's wake-up queue. */
  queue_length: t.u32(),
  progress_at: t.timestamp(),
  updated_at: t.timestamp(),
};
const agentStatusOptions = { name: 'agent_status', public: true } as const;
export const agentStatus: ReturnType<typeof table<typeof agentStatusColumns, typeof agentStatusOptions>> = table(
  agentStatusOptions,
  agentStatusColumns,
);
export type AgentStatusRow = Infer<typeof agentStatusColumns>;

/**
 * Which running instance of an agent may run its loop: one at a time. A loop claims the row at start
 * with a session id of its own and renews the lease while it runs; a second instance of the same
 * agent (same identity, another session) is refused while the lease is live, so two processes never
 * run the same cycles. The row goes when the agent's last connection closes (a killed process frees
 * it at once) or when its lease lapses.
 */
export const agentRunnerColumns = {
  agent: t.string().primaryKey(),
  /** The claiming loop's own random id. */
  session: t.string(),
  started_at: t.timestamp(),
  lease_expires_at: t.timestamp(),
};
const agentRunnerOptions = { name: 'agent_runner', public: true } as const;
export const agentRunner: ReturnType<typeof table<typeof agentRunnerColumns, typeof agentRunnerOptions>> = table(
  agentRunnerOptions,
  agentRunnerColumns,
);
export type AgentRunnerRow = Infer<typeof agentRunnerColumns>;

/**
 * Wakes agents at a time: with `cycle_id` it makes a deferred cycle due; without, it is the agent's
 * periodic tick (a `schedule` stimulus, then the row reschedules itself `interval_seconds` later).
 */
export const agentWakeScheduleColumns = {
  scheduled_id: t.u64().primaryKey().autoInc(),
  scheduled_at: t.scheduleAt(),
  agent: t.string(),
  cycle_id: t.option(t.u64()),
  interval_seconds: t.u32(),
};
const agentWakeScheduleOptions = { name: 'agent_wake_schedule', public: false } as const;
export const agentWakeSchedule: ReturnType<
  typeof table<typeof agentWakeScheduleColumns, typeof agentWakeScheduleOptions>
> = table(agentWakeScheduleOptions, agentWakeScheduleColumns);
export type AgentWakeScheduleRow = Infer<typeof agentWakeScheduleColumns>;

export type LoopTables = {
  cycle: typeof cycle;
  cycle_inference: typeof cycleInference;
  tool_call: typeof toolCall;
  plan: typeof plan;
  plan_approver: typeof planApprover;
  hook_run: typeof hookRun;
  reaction_rule: typeof reactionRule;
  reaction_firing: typeof reactionFiring;
  agent_status: typeof agentStatus;
  agent_runner: typeof agentRunner;
  agent_wake_schedule: typeof agentWakeSchedule;
};

export const loopTables: LoopTables = {
  cycle,
  cycle_inference: cycleInference,
  tool_call: toolCall,
  plan,
  plan_approver: planApprover,
  hook_run: hookRun,
  reaction_rule: reactionRule,
  reaction_firing: reactionFiring,
  agent_status: agentStatus,
  agent_runner: agentRunner,
  agent_wake_schedule: agentWakeSchedule,
};
