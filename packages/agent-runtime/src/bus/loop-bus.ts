/**
 * Every database read and write of the loop, in one place: the reducers it calls (typed here, so a
 * wrong argument is a compile error in this file only) and the rows it reads from the client cache,
 * converted into small typed records. The bus client keeps the cache current through subscriptions;
 * nothing here polls.
 */
import type { BusClient, BusQuery, BusReducerName, BusRow, BusTableName, ReducerArgs } from '@clawfleet/bus-client';

export interface CycleRecord {
  id: number;
  agent: string;
  triggerKind: string;
  triggerKey: string;
  triggerText: string;
  taskId: number | null;
  phase: string;
  decision: string | null;
  priority: number;
  reason: string;
  outcome: string | null;
  outcomeDetail: string;
  steps: number;
  tokens: number;
  startedAtMicros: number;
}

export interface ToolCallRecord {
  id: number;
  cycleId: number;
  step: number;
  key: string;
  tool: string;
  args: string;
  sideEffect: boolean;
  state: string;
  resultDigest: string;
  result: string;
  errorCode: string;
}

export interface TaskRecord {
  id: number;
  title: string;
  description: string;
  priority: number;
  state: string;
  reservedFor: string | null;
  owner: string | null;
  attempts: number;
  stimulusId: number | null;
  result: string | null;
  createdAtMicros: number;
}

export interface PlanRecord {
  id: number;
  agent: string;
  cycleId: number;
  text: string;
  state: string;
  decidedBy: string | null;
  decisionReason: string | null;
  createdAtMicros: number;
}

const number = (value: unknown): number => (typeof value === 'bigint' ? Number(value) : Number(value ?? 0));
const optionalNumber = (value: unknown): number | null =>
  value === null || value === undefined ? null : number(value);
const optionalString = (value: unknown): string | null =>
  value === null || value === undefined ? null : String(value);

export function toCycle(row: BusRow): CycleRecord {
  return {
    id: number(row.id),
    agent: String(row.agent),
    triggerKind: String(row.trigger_kind),
    triggerKey: String(row.trigger_key),
    triggerText: String(row.trigger_text),
    taskId: optionalNumber(row.task_id),
    phase: String(row.phase),
    decision: optionalString(row.decision),
    priority: number(row.priority),
    reason: String(row.reason),
    outcome: optionalString(row.outcome),
    outcomeDetail: String(row.outcome_detail),
    steps: number(row.steps),
    tokens: number(row.tokens),
    startedAtMicros: number(row.started_at),
  };
}

export function toToolCall(row: BusRow): ToolCallRecord {
  return {
    id: number(row.id),
    cycleId: number(row.cycle_id),
    step: number(row.step),
    key: String(row.idempotency_key),
    tool: String(row.tool),
    args: String(row.args),
    sideEffect: row.side_effect === true,
    state: String(row.state),
    resultDigest: String(row.result_digest),
    result: String(row.result),
    errorCode: String(row.error_code),
  };
}

export function toTask(row: BusRow): TaskRecord {
  return {
    id: number(row.id),
    title: String(row.title),
    description: String(row.description),
    priority: number(row.priority),
    state: String(row.state),
    reservedFor: optionalString(row.reserved_for),
    owner: optionalString(row.owner),
    attempts: number(row.attempts),
    stimulusId: optionalNumber(row.stimulus_id),
    result: optionalString(row.result),
    createdAtMicros: number(row.created_at),
  };
}

export function toPlan(row: BusRow): PlanRecord {
  return {
    id: number(row.id),
    agent: String(row.agent),
    cycleId: number(row.cycle_id),
    text: String(row.text),
    state: String(row.state),
    decidedBy: optionalString(row.decided_by),
    decisionReason: optionalString(row.decision_reason),
    createdAtMicros: number(row.created_at),
  };
}

/** The subscription queries one agent's loop needs; everything it reads comes from these rows. */
export function loopQueries(agent: string, approvesPlans: boolean): BusQuery[] {
  const quoted = `'${agent.replaceAll("'", "''")}'`;
  return [
    'SELECT * FROM agent',
    'SELECT * FROM stimulus',
    'SELECT * FROM task',
    'SELECT * FROM visible_message',
    `SELECT * FROM attention_request WHERE agent = ${quoted}`,
    approvesPlans ? 'SELECT * FROM plan' : `SELECT * FROM plan WHERE agent = ${quoted}`,
    `SELECT * FROM cycle WHERE agent = ${quoted}`,
    `SELECT * FROM tool_call WHERE agent = ${quoted}`,
    `SELECT * FROM cycle_inference WHERE agent = ${quoted}`,
    `SELECT * FROM reaction_rule WHERE agent = ${quoted}`,
  ];
}

/** Typed reducer calls of the loop. `undefined` optional arguments are sent as none. */
export class LoopBus {
  readonly client: BusClient;
  readonly agent: string;

  constructor(client: BusClient, agent: string) {
    this.client = client;
    this.agent = agent;
  }

  #call<Reducer extends BusReducerName>(
    reducer: Reducer,
    args: ReducerArgs<Reducer>,
    signal?: AbortSignal,
  ): Promise<void> {
    const clean = Object.fromEntries(Object.entries(args).filter(([, value]) => value !== undefined));
    return this.client.callReducer(reducer, clean as ReducerArgs<Reducer>, signal === undefined ? {} : { signal });
  }

  rows(table: BusTableName): readonly BusRow[] {
    return this.client.rows(table);
  }

  cycles(): CycleRecord[] {
    return this.rows('cycle')
      .filter((row) => row.agent === this.agent)
      .map(toCycle);
  }

  cycle(id: number): CycleRecord | undefined {
    const row = this.rows('cycle').find((candidate) => number(candidate.id) === id);
    return row === undefined ? undefined : toCycle(row);
  }

  cycleByTrigger(triggerKey: string): CycleRecord | undefined {
    return this.cycles().find((cycle) => cycle.triggerKey === triggerKey);
  }

  toolCalls(cycleId: number): ToolCallRecord[] {
    return this.rows('tool_call')
      .filter((row) => number(row.cycle_id) === cycleId)
      .map(toToolCall)
      .sort((a, b) => a.step - b.step);
  }

  tasks(): TaskRecord[] {
    return this.rows('task').map(toTask);
  }

  task(id: number): TaskRecord | undefined {
    const row = this.rows('task').find((candidate) => number(candidate.id) === id);
    return row === undefined ? undefined : toTask(row);
  }

  plans(): PlanRecord[] {
    return this.rows('plan').map(toPlan);
  }

  agentNames(): string[] {
    return this.rows('agent')
      .map((row) => String(row.name))
      .sort();
  }

  /** Prompt + completion tokens this agent recorded since `sinceMicros`, and the oldest such record. */
  tokensSince(sinceMicros: number): { tokens: number; oldestMicros: number | null } {
    let tokens = 0;
    let oldest: number | null = null;
    for (const row of this.rows('cycle_inference')) {
      if (row.agent !== this.agent) continue;
      const at = number(row.created_at);
      if (at < sinceMicros) continue;
      tokens += number(row.tokens_in) + number(row.tokens_out);
      if (oldest === null || at < oldest) oldest = at;
    }
    return { tokens, oldestMicros: oldest };
  }

  beginCycle(args: {
    triggerKind: string;
    triggerKey: string;
    triggerText: string;
    taskId?: number | undefined;
    priority: number;
  }): Promise<void> {
    return this.#call('begin_cycle', {
      trigger_kind: args.triggerKind,
      trigger_key: args.triggerKey,
      trigger_text: args.triggerText,
      task_id: args.taskId,
      priority: args.priority,
    });
  }

  recordTriage(args: {
    cycleId: number;
    decision: string;
    priority: number;
    reason: string;
    deferSeconds: number;
  }): Promise<void> {
    return this.#call('record_triage', {
      cycle_id: args.cycleId,
      decision: args.decision,
      priority: args.priority,
      reason: args.reason,
      defer_seconds: args.deferSeconds,
    });
  }

  setCyclePhase(cycleId: number, phase: 'acting' | 'delegating' | 'awaiting_approval' | 'reflecting'): Promise<void> {
    return this.#call('set_cycle_phase', { cycle_id: cycleId, phase });
  }

  recordCycleInference(args: {
    cycleId: number;
    phase: string;
    model: string;
    requestId: string;
    promptHash: string;
    seed?: number | undefined;
    maxTokens: number;
    tokensIn: number;
    tokensOut: number;
  }): Promise<void> {
    return this.#call('record_cycle_inference', {
      cycle_id: args.cycleId,
      phase: args.phase,
      model: args.model,
      request_id: args.requestId,
      prompt_hash: args.promptHash,
      seed: args.seed,
      max_tokens: args.maxTokens,
      tokens_in: args.tokensIn,
      tokens_out: args.tokensOut,
    });
  }

  beginToolCall(args: {
    cycleId: number;
    step: number;
    tool: string;
    args: string;
    sideEffect: boolean;
  }): Promise<void> {
    return this.#call('begin_tool_call', {
      cycle_id: args.cycleId,
      step: args.step,
      tool: args.tool,
      args: args.args,
      side_effect: args.sideEffect,
    });
  }

  finishToolCall(args: {
    key: string;
    state: 'succeeded' | 'failed' | 'refused' | 'interrupted';
    resultDigest: string;
    result: string;
    errorCode: string;
    durationMs: number;
  }): Promise<void> {
    return this.#call('finish_tool_call', {
      idempotency_key: args.key,
      state: args.state,
      result_digest: args.resultDigest,
      result: args.result,
      error_code: args.errorCode,
      duration_ms: Math.min(0xffff_ffff, Math.max(0, Math.round(args.durationMs))),
    });
  }

  finishCycle(cycleId: number, outcome: string, detail: string): Promise<void> {
    return this.#call('finish_cycle', { cycle_id: cycleId, outcome, detail });
  }

  reportStatus(args: {
    phase: string;
    cycleId?: number | undefined;
    taskId?: number | undefined;
    progress: string;
    queueLength: number;
  }): Promise<void> {
    return this.#call('report_agent_status', {
      phase: args.phase,
      cycle_id: args.cycleId,
      task_id: args.taskId,
      progress: args.progress,
      queue_length: args.queueLength,
    });
  }

  /** Claims or renews this agent's one-runner lease for `session` (REDUCER_REJECTED while another session holds it). */
  claimRunner(session: string, leaseSeconds: number): Promise<void> {
    return this.#call('claim_agent_runner', { session, lease_seconds: leaseSeconds });
  }

  releaseRunner(session: string): Promise<void> {
    return this.#call('release_agent_runner', { session });
  }

  setSchedule(intervalSeconds: number): Promise<void> {
    return this.#call('set_agent_schedule', { interval_seconds: intervalSeconds });
  }

  setReaction(event: string, priority: number, enabled: boolean): Promise<void> {
    return this.#call('set_reaction', { event, priority, enabled });
  }

  submitPlan(cycleId: number, text: string, tools: string[]): Promise<void> {
    return this.#call('submit_plan', { cycle_id: cycleId, text, tools });
  }

  recordHookRun(args: {
    hook: string;
    event: string;
    taskId?: number | undefined;
    cycleId?: number | undefined;
    verdict: 'pass' | 'reject';
    reason: string;
  }): Promise<void> {
    return this.#call('record_hook_run', {
      hook: args.hook,
      event: args.event,
      task_id: args.taskId,
      cycle_id: args.cycleId,
      verdict: args.verdict,
      reason: args.reason,
    });
  }

  recordReflection(args: {
    taskId?: number | undefined;
    text: string;
    importance: number;
    tags: string[];
    links: { kind: string; id: number }[];
  }): Promise<void> {
    return this.#call('record_reflection', {
      task_id: args.taskId,
      text: args.text,
      importance: args.importance,
      tags: args.tags,
      links: args.links,
    });
  }

  claimTask(taskId: number, leaseSeconds: number): Promise<void> {
    return this.#call('claim_task', { task_id: taskId, lease_seconds: leaseSeconds });
  }

  extendTaskLease(taskId: number, leaseSeconds: number): Promise<void> {
    return this.#call('extend_task_lease', { task_id: taskId, lease_seconds: leaseSeconds });
  }

  completeTask(taskId: number, result: string): Promise<void> {
    return this.#call('complete_task', { task_id: taskId, result });
  }

  failTask(taskId: number, reason: string): Promise<void> {
    return this.#call('fail_task', { task_id: taskId, reason });
  }

  cancelTask(taskId: number, reason: string): Promise<void> {
    return this.#call('cancel_task', { task_id: taskId, reason });
  }

  handOffTask(taskId: number, toAgent: string, note: string): Promise<void> {
    return this.#call('hand_off_task', { task_id: taskId, to_agent: toAgent, note });
  }

  createTask(args: {
    title: string;
    description: string;
    priority: number;
    stimulusId?: number | undefined;
    reservedFor?: string | undefined;
  }): Promise<void> {
    return this.#call('create_task', {
      title: args.title,
      description: args.description,
      priority: args.priority,
      depends_on: [],
      stimulus_id: args.stimulusId,
      reserved_for: args.reservedFor,
    });
  }

  sendMessage(toAgent: string | undefined, text: string): Promise<void> {
    return this.#call('send_message', { to_agent: toAgent, text });
  }

  requestAttention(text: string, priority: number, defaultAction: string, expiresInSeconds: number): Promise<void> {
    return this.#call('request_attention', {
      text,
      priority,
      default_action: defaultAction,
      expires_in_seconds: expiresInSeconds,
    });
  }
}
