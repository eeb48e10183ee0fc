/**
 * One cycle: Triage → (Act | Delegate | Defer | Ignore) → Reflect, every step written to the database
 * before the next begins, so a process killed anywhere resumes from the rows: a triaging cycle is
 * triaged again, an acting one continues after its last recorded step (a call left `started` becomes
 * `interrupted`, and a side effect recorded as done is never run again), a reflecting one reflects.
 */
import { createHash } from 'node:crypto';
import type { AgentToolbox, ToolContext } from '@clawfleet/agent-tools';
import type { AgentDefinition, AgentPhase, HookDefinition } from '@clawfleet/agents';
import { ClawError, type InferencePriority, type Logger } from '@clawfleet/protocol';
import type { CycleRecord, LoopBus, ToolCallRecord } from '../bus/loop-bus.ts';
import type { LoopInference, LoopMemory } from '../ports.ts';
import {
  type ActDecision,
  actJsonSchema,
  parseAct,
  parseReflection,
  parseTriage,
  type ReflectionDecision,
  reflectJsonSchema,
  type TextBounds,
  type TriageDecision,
  textBounds,
  triageJsonSchema,
} from '../prompts/decision-schemas.ts';
import {
  actPrompt,
  identityPrefix,
  type Observation,
  type PromptBudget,
  promptBudget,
  reflectPrompt,
  triagePrompt,
  withRepairNote,
} from '../prompts/prompts.ts';

/** What the runner needs per call of a tool: the context minus what the loop fills in. */
export type ToolContextFactory = (fields: {
  cycleId: number;
  step: number;
  taskId: number | undefined;
  signal: AbortSignal;
  logger: Logger;
}) => ToolContext;

export interface CycleRunnerOptions {
  agent: AgentDefinition;
  bus: LoopBus;
  inference: LoopInference;
  memory: LoopMemory;
  toolbox: AgentToolbox;
  toolContext: ToolContextFactory;
  logger: Logger;
  /** Milliseconds since the epoch. */
  now: () => number;
  /** Lease taken on a claimed task, renewed on every step. @default 300 */
  leaseSeconds?: number;
  /** Reports progress to the agent's status row. */
  report: (phase: string, cycle: CycleRecord | undefined, progress: string) => Promise<void>;
  /**
   * Tokens of context per slot of the model the agent's requests go to: prompts are built to fit it
   * minus the phase's max tokens. Unknown: only the phases' `contextCharacters` bound them.
   */
  contextTokens?: number;
}

/** The task text marker that makes every side-effect tool of its cycle need an approved plan. */
export const NEEDS_APPROVAL_TAG = '#needs-approval';
const MAX_RESULT_CHARS = 8_000;
const ATTENTION_SECONDS = 24 * 3_600;
const HOUR_MICROS = 3_600_000_000;

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value as Record<string, unknown>)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** Thrown inside a cycle to stop it because a limit was reached. */
class LimitReached extends Error {
  constructor(readonly limit: string) {
    super(limit);
  }
}

type Decided<T> = { ok: true; decision: T } | { ok: false; problem: string };

export class CycleRunner {
  readonly #options: CycleRunnerOptions;
  readonly #agent: AgentDefinition;
  readonly #bus: LoopBus;
  readonly #prefix: string;
  readonly #leaseSeconds: number;

  constructor(options: CycleRunnerOptions) {
    this.#options = options;
    this.#agent = options.agent;
    this.#bus = options.bus;
    this.#prefix = identityPrefix(options.agent);
    this.#leaseSeconds = options.leaseSeconds ?? 300;
  }

  /** Runs (or resumes) a cycle until it is done, parked (deferred, awaiting approval) or the signal aborts. */
  async run(cycleId: number, signal: AbortSignal): Promise<void> {
    const logger = this.#options.logger.child({ cycle: cycleId });
    const cycle = this.#cycle(cycleId);
    try {
      switch (cycle.phase) {
        case 'triaging':
        case 'due':
          await this.#triage(cycle, signal, logger);
          return;
        case 'acting':
          if (await this.#resumeTask(cycle, signal)) await this.#act(this.#cycle(cycleId), signal, logger);
          return;
        case 'delegating':
          await this.#resumeDelegation(cycle, signal);
          return;
        case 'awaiting_approval':
          await this.#afterDecision(cycle, signal, logger);
          return;
        case 'reflecting':
          await this.#reflectAndFinish(cycle, this.#endingOf(cycle), undefined, signal);
          return;
        default:
          return;
      }
    } catch (error) {
      if (error instanceof LimitReached) {
        await this.#stopAtLimit(this.#cycle(cycleId), error.limit, signal);
        return;
      }
      throw error;
    }
  }

  /** Text bounds of a phase's reply, from the tokens it may generate. */
  #bounds(phase: AgentPhase): TextBounds {
    return textBounds(Math.min(this.#agent.model.phases[phase].maxTokens, this.#agent.model.maxTokens));
  }

  #budget(phase: AgentPhase): PromptBudget {
    return promptBudget(this.#agent, phase, this.#options.contextTokens, this.#prefix);
  }

  #cycle(id: number): CycleRecord {
    const cycle = this.#bus.cycle(id);
    if (cycle === undefined) throw new ClawError('NOT_FOUND', `Cycle ${id} is not in the cache`);
    return cycle;
  }

  // ---- Triage ----------------------------------------------------------------------------------

  async #triage(cycle: CycleRecord, signal: AbortSignal, logger: Logger): Promise<void> {
    await this.#options.report('triaging', cycle, 'triage');
    const memories = await this.#options.memory.retrieve(cycle.triggerText, { limit: 5, signal });
    const delegates = this.#bus.agentNames().filter((name) => name !== this.#agent.name);
    const memoryIds = memories.map((memory) => memory.id);
    const tasks = this.#bus
      .tasks()
      .filter((task) => task.owner === this.#agent.name && task.state === 'claimed')
      .map((task) => ({ id: task.id, title: task.title, state: task.state }));
    const prompt = triagePrompt({
      agent: this.#agent,
      trigger: cycle.triggerText,
      tasks,
      memories,
      delegates,
      budget: this.#budget('triage'),
    });
    const decided = await this.#decide<TriageDecision>(
      cycle,
      'triage',
      prompt,
      triageJsonSchema(delegates, memoryIds, this.#bounds('triage')),
      (value) => parseTriage(value, delegates, memoryIds, this.#bounds('triage')),
      signal,
    );
    if (!decided.ok) {
      await this.#failMalformed(cycle, 'triage', decided.problem, signal);
      return;
    }
    const triage = decided.decision;
    logger.info({ decision: triage.decision, priority: triage.priority }, 'triaged');
    const reason = triage.cites.length > 0 ? `${triage.reason} (memories ${triage.cites.join(', ')})` : triage.reason;
    signal.throwIfAborted();
    await this.#bus.recordTriage({
      cycleId: cycle.id,
      decision: triage.decision,
      priority: triage.priority,
      reason,
      deferSeconds: triage.decision === 'defer' ? triage.deferMinutes * 60 : 0,
    });
    switch (triage.decision) {
      case 'ignore':
        await this.#bus.finishCycle(cycle.id, 'ignored', reason);
        return;
      case 'defer':
        return;
      case 'delegate':
        await this.#delegate(this.#cycle(cycle.id), triage.delegateTo!, triage.message, signal);
        return;
      case 'act': {
        const acting = this.#cycle(cycle.id);
        if (!(await this.#claimIfTask(acting, signal))) return;
        await this.#act(this.#cycle(cycle.id), signal, logger);
        return;
      }
    }
  }

  /** A task trigger is claimed when the agent decides to act on it; losing the race ends the cycle. */
  async #claimIfTask(cycle: CycleRecord, signal: AbortSignal): Promise<boolean> {
    if (cycle.taskId === null) return true;
    const task = this.#bus.task(cycle.taskId);
    if (task?.state === 'claimed' && task.owner === this.#agent.name) return true;
    signal.throwIfAborted();
    try {
      await this.#bus.claimTask(cycle.taskId, this.#leaseSeconds);
      return true;
    } catch (error) {
      if (!(error instanceof ClawError) || error.code !== 'REDUCER_REJECTED') throw error;
      await this.#bus.finishCycle(cycle.id, 'ignored', `Could not claim task ${cycle.taskId}: ${error.message}`);
      return false;
    }
  }

  /**
   * After a restart: a cycle whose task lease expired claims the task again; if someone else has it
   * (or it is gone) the cycle ends. Returns whether the cycle can go on.
   */
  async #resumeTask(cycle: CycleRecord, signal: AbortSignal): Promise<boolean> {
    if (cycle.taskId === null) return true;
    const task = this.#bus.task(cycle.taskId);
    if (task?.state === 'claimed' && task.owner === this.#agent.name) return true;
    if (task?.state === 'queued' && (task.reservedFor === null || task.reservedFor === this.#agent.name)) {
      return this.#claimIfTask(cycle, signal);
    }
    await this.#bus.finishCycle(
      cycle.id,
      'failure',
      `Task ${cycle.taskId} is ${task?.state ?? 'gone'}${task?.owner ? ` (owner ${task.owner})` : ''}; the cycle cannot continue it`,
    );
    return false;
  }

  // ---- Delegate --------------------------------------------------------------------------------

  async #delegate(cycle: CycleRecord, to: string, message: string, signal: AbortSignal): Promise<void> {
    await this.#options.report('delegating', cycle, `delegating to ${to}`);
    const args = JSON.stringify({ to, message });
    signal.throwIfAborted();
    await this.#bus.beginToolCall({ cycleId: cycle.id, step: 0, tool: 'delegate', args, sideEffect: true });
    await this.#performDelegation(cycle, to, message, signal);
  }

  async #performDelegation(cycle: CycleRecord, to: string, message: string, signal: AbortSignal): Promise<void> {
    const started = this.#options.now();
    const key = `${cycle.id}:0`;
    let result: string;
    let failed: ClawError | undefined;
    try {
      if (cycle.taskId !== null) {
        if (await this.#claimIfTask(cycle, signal)) {
          await this.#bus.handOffTask(cycle.taskId, to, message);
          result = `Task ${cycle.taskId} handed off to ${to}`;
        } else {
          return;
        }
      } else {
        const stimulusId = cycle.triggerKind === 'stimulus' ? Number(cycle.triggerKey.split(':')[1]) : undefined;
        const title = cycle.triggerText.replace(/\s+/g, ' ').slice(0, 120) || `From ${this.#agent.name}`;
        await this.#bus.createTask({
          title,
          description: `${message}\n\nDelegated by @${this.#agent.name} from: ${cycle.triggerText}`.slice(0, 8_000),
          priority: cycle.priority,
          stimulusId,
          reservedFor: to,
        });
        result = `Task "${title}" created for ${to}`;
      }
    } catch (error) {
      failed = ClawError.from(error, 'INTERNAL');
      result = failed.message;
    }
    await this.#bus.finishToolCall({
      key,
      state: failed === undefined ? 'succeeded' : 'failed',
      resultDigest: sha256(result),
      result: result.slice(0, MAX_RESULT_CHARS),
      errorCode: failed?.code ?? '',
      durationMs: this.#options.now() - started,
    });
    const ending = failed === undefined ? `Delegated to ${to}: ${message}` : `Delegation to ${to} failed: ${result}`;
    await this.#reflectAndFinish(this.#cycle(cycle.id), ending, failed === undefined ? 'delegated' : 'failure', signal);
  }

  async #resumeDelegation(cycle: CycleRecord, signal: AbortSignal): Promise<void> {
    const [call] = this.#bus.toolCalls(cycle.id);
    if (call === undefined) {
      await this.#bus.finishCycle(
        cycle.id,
        'failure',
        'Interrupted before the delegation was recorded; nothing was handed over',
      );
      return;
    }
    const { to, message } = JSON.parse(call.args) as { to: string; message: string };
    if (call.state === 'started') {
      // The hand-off may or may not have happened: look for its effect before doing it again.
      const done = this.#bus
        .tasks()
        .some(
          (task) =>
            task.reservedFor === to &&
            (task.id === cycle.taskId || task.description.includes(`Delegated by @${this.#agent.name}`)) &&
            task.createdAtMicros >= cycle.startedAtMicros,
        );
      if (!done) {
        await this.#performDelegation(cycle, to, message, signal);
        return;
      }
      await this.#bus.finishToolCall({
        key: call.key,
        state: 'succeeded',
        resultDigest: sha256('found after restart'),
        result: 'The hand-off was found done after a restart',
        errorCode: '',
        durationMs: 0,
      });
    }
    const ok = call.state === 'succeeded' || call.state === 'started';
    await this.#reflectAndFinish(
      this.#cycle(cycle.id),
      `Delegated to ${to}: ${message}`,
      ok ? 'delegated' : 'failure',
      signal,
    );
  }

  // ---- Act -------------------------------------------------------------------------------------

  async #act(cycle: CycleRecord, signal: AbortSignal, logger: Logger): Promise<void> {
    const limits = this.#agent.limits;
    const tools = this.#options.toolbox.describe();
    const toolNames = tools.map((tool) => tool.name);
    const observations: Observation[] = [];
    const recorded = this.#bus.toolCalls(cycle.id);
    for (const call of recorded) {
      if (call.state === 'started') {
        // Killed mid-call: whether it took effect is unknown, so it is not run again blindly.
        await this.#bus.finishToolCall({
          key: call.key,
          state: 'interrupted',
          resultDigest: sha256('interrupted'),
          result: 'Interrupted by a restart; whether it took effect is unknown. Check before repeating it.',
          errorCode: 'INTERRUPTED',
          durationMs: 0,
        });
      }
    }
    for (const call of this.#bus.toolCalls(cycle.id)) observations.push(observationOf(call));
    let step = recorded.length === 0 ? 0 : Math.max(...recorded.map((call) => call.step)) + 1;
    for (;;) {
      signal.throwIfAborted();
      const current = this.#cycle(cycle.id);
      if (step >= limits.stepsPerCycle) throw new LimitReached(`${limits.stepsPerCycle} steps per cycle`);
      this.#checkTokens(current);
      // The status says `acting` while the model chooses the step, not only once a tool runs: a person
      // watching the agent (claw status, the dashboard) would otherwise see it `triaging` all that time.
      await this.#options.report('acting', current, `step ${step}: choosing the next action`);
      const prompt = actPrompt({
        agent: this.#agent,
        trigger: current.triggerText,
        reason: current.reason,
        tools,
        observations,
        stepsLeft: limits.stepsPerCycle - step,
        budget: this.#budget('act'),
      });
      const bounds = this.#bounds('act');
      const decided = await this.#decide<ActDecision>(
        current,
        'act',
        prompt,
        actJsonSchema(toolNames, bounds),
        (value) => parseAct(value, bounds),
        signal,
      );
      if (!decided.ok) {
        await this.#failMalformed(current, 'act', decided.problem, signal);
        return;
      }
      const decision = decided.decision;
      if (decision.kind === 'finish') {
        const finished = await this.#finish(current, decision, step, observations, signal);
        if (finished) return;
        step += 1;
        continue;
      }
      const outcome = await this.#callTool(current, step, decision, observations, signal, logger);
      if (outcome === 'parked') return;
      step += 1;
    }
  }

  #checkTokens(cycle: CycleRecord): void {
    const limits = this.#agent.limits;
    if (cycle.tokens >= limits.tokensPerCycle) throw new LimitReached(`${limits.tokensPerCycle} tokens per cycle`);
    const hour = this.#bus.tokensSince(this.#options.now() * 1_000 - HOUR_MICROS);
    if (hour.tokens >= limits.tokensPerHour) throw new LimitReached(`${limits.tokensPerHour} tokens per hour`);
  }

  /** Finishes the act phase: the task is completed (after its hooks pass) or failed, then reflect. */
  async #finish(
    cycle: CycleRecord,
    decision: Extract<ActDecision, { kind: 'finish' }>,
    step: number,
    observations: Observation[],
    signal: AbortSignal,
  ): Promise<boolean> {
    const summary = decision.summary.trim().length > 0 ? decision.summary.trim() : `Finished: ${decision.outcome}`;
    const task = cycle.taskId === null ? undefined : this.#bus.task(cycle.taskId);
    const holdsTask = task !== undefined && task.state === 'claimed' && task.owner === this.#agent.name;
    if (holdsTask && decision.outcome !== 'failure') {
      const rejection = await this.#runHooks('task_completed', { cycle, taskId: task.id, result: summary, signal });
      if (rejection !== undefined) {
        // The gate sends the work back: recorded as a refused finish, and the model sees why.
        await this.#recordRefused(
          cycle,
          step,
          'finish',
          JSON.stringify({ outcome: decision.outcome, summary }),
          'HOOK_REJECTED',
          rejection,
        );
        observations.push({ step, tool: 'finish', args: summary, status: 'HOOK_REJECTED', text: rejection });
        return false;
      }
      signal.throwIfAborted();
      await this.#bus.completeTask(task.id, summary);
    } else if (holdsTask) {
      signal.throwIfAborted();
      await this.#bus.failTask(task.id, summary);
    }
    await this.#reflectAndFinish(this.#cycle(cycle.id), `${decision.outcome}: ${summary}`, decision.outcome, signal);
    return true;
  }

  async #callTool(
    cycle: CycleRecord,
    step: number,
    decision: Extract<ActDecision, { kind: 'tool' }>,
    observations: Observation[],
    signal: AbortSignal,
    logger: Logger,
  ): Promise<'done' | 'parked'> {
    const argsText = canonical(decision.args);
    const calls = this.#bus.toolCalls(cycle.id);
    const identical = calls.filter(
      (call) => call.tool === decision.tool && canonical(safeJson(call.args)) === argsText,
    );
    if (identical.length + 1 >= this.#agent.limits.identicalCalls) {
      throw new LimitReached(`${this.#agent.limits.identicalCalls} identical calls of ${decision.tool}`);
    }
    let prepared: { tool: { sideEffect: boolean; needsApproval?: boolean }; args: unknown };
    try {
      prepared = this.#options.toolbox.prepare(decision.tool, decision.args);
    } catch (error) {
      const refusal = ClawError.from(error, 'TOOL_ARGS_INVALID');
      await this.#recordRefused(cycle, step, decision.tool, argsText, refusal.code, refusal.message);
      observations.push({ step, tool: decision.tool, args: argsText, status: refusal.code, text: refusal.message });
      return 'done';
    }
    const sideEffect = prepared.tool.sideEffect;
    // A side effect this cycle already did is never done twice, whatever the model asks.
    const alreadyDone = identical.find((call) => call.sideEffect && call.state === 'succeeded');
    if (alreadyDone !== undefined) {
      const text = `Already done at step ${alreadyDone.step}; not repeated. Its result: ${alreadyDone.result}`;
      await this.#recordRefused(cycle, step, decision.tool, argsText, 'ALREADY_DONE', text);
      observations.push({ step, tool: decision.tool, args: argsText, status: 'ALREADY_DONE', text });
      return 'done';
    }
    if (this.#needsApproval(cycle, decision.tool, prepared.tool) && !this.#hasApprovedPlan(cycle)) {
      const plan = `Step ${step}: call ${decision.tool} with ${argsText}.\nWhy: ${cycle.reason}\nFor: ${cycle.triggerText.slice(0, 1_000)}`;
      signal.throwIfAborted();
      await this.#bus.submitPlan(cycle.id, plan, [decision.tool]);
      await this.#options.report('awaiting_approval', this.#cycle(cycle.id), `plan for ${decision.tool}`);
      logger.info({ tool: decision.tool }, 'plan submitted; waiting for approval');
      return 'parked';
    }
    if (decision.tool === 'task.complete') {
      const taskId = Number((prepared.args as { taskId?: unknown }).taskId ?? cycle.taskId);
      const resultText = String((prepared.args as { result?: unknown }).result ?? '');
      const rejection = await this.#runHooks('task_completed', { cycle, taskId, result: resultText, signal });
      if (rejection !== undefined) {
        await this.#recordRefused(cycle, step, decision.tool, argsText, 'HOOK_REJECTED', rejection);
        observations.push({ step, tool: decision.tool, args: argsText, status: 'HOOK_REJECTED', text: rejection });
        return 'done';
      }
    }
    signal.throwIfAborted();
    await this.#bus.beginToolCall({ cycleId: cycle.id, step, tool: decision.tool, args: argsText, sideEffect });
    await this.#options.report('acting', cycle, `step ${step}: ${decision.tool}`);
    const started = this.#options.now();
    const context = this.#options.toolContext({
      cycleId: cycle.id,
      step,
      taskId: cycle.taskId ?? undefined,
      signal,
      logger,
    });
    let text: string;
    let full: string;
    let failure: ClawError | undefined;
    try {
      const result = await this.#options.toolbox.run(decision.tool, decision.args, context);
      text = result.text;
      full = JSON.stringify(result.output);
    } catch (error) {
      // A kill (abort) leaves the call `started`: the resumed cycle marks it interrupted.
      signal.throwIfAborted();
      failure = ClawError.from(error, 'TOOL_FAILED');
      text = failure.message;
      full = JSON.stringify(failure.toJSON());
    }
    signal.throwIfAborted();
    await this.#bus.finishToolCall({
      key: `${cycle.id}:${step}`,
      state: failure === undefined ? 'succeeded' : 'failed',
      resultDigest: sha256(full),
      result: text.slice(0, MAX_RESULT_CHARS),
      errorCode: failure?.code ?? '',
      durationMs: this.#options.now() - started,
    });
    observations.push({ step, tool: decision.tool, args: argsText, status: failure?.code ?? 'ok', text });
    if (failure === undefined && decision.tool === 'task.create') {
      await this.#afterTaskCreated(cycle, full, signal);
    }
    await this.#extendLease(cycle);
    // `plan.submit` (the model asking for approval itself) parks the cycle as the runtime's own plans do.
    if (this.#cycle(cycle.id).phase === 'awaiting_approval') return 'parked';
    return 'done';
  }

  #needsApproval(cycle: CycleRecord, name: string, tool: { sideEffect: boolean; needsApproval?: boolean }): boolean {
    if (tool.needsApproval === true || this.#agent.approvalRequiredFor.includes(name)) return true;
    if (!tool.sideEffect || cycle.taskId === null) return false;
    const task = this.#bus.task(cycle.taskId);
    return task !== undefined && `${task.title} ${task.description}`.toLowerCase().includes(NEEDS_APPROVAL_TAG);
  }

  #hasApprovedPlan(cycle: CycleRecord): boolean {
    return this.#bus
      .plans()
      .some((plan) => plan.cycleId === cycle.id && plan.agent === this.#agent.name && plan.state === 'approved');
  }

  async #afterDecision(cycle: CycleRecord, signal: AbortSignal, logger: Logger): Promise<void> {
    const plan = this.#bus
      .plans()
      .filter((candidate) => candidate.cycleId === cycle.id && candidate.agent === this.#agent.name)
      .sort((a, b) => b.id - a.id)[0];
    if (plan === undefined || plan.state === 'pending') return;
    if (plan.state === 'approved') {
      logger.info({ plan: plan.id, by: plan.decidedBy }, 'plan approved; acting');
      await this.#bus.setCyclePhase(cycle.id, 'acting');
      if (await this.#resumeTask(this.#cycle(cycle.id), signal)) await this.#act(this.#cycle(cycle.id), signal, logger);
      return;
    }
    const why = `Plan ${plan.id} was ${plan.state}${plan.decidedBy ? ` by ${plan.decidedBy}` : ''}: ${plan.decisionReason ?? ''}`;
    logger.info({ plan: plan.id }, 'plan not approved; the cycle ends');
    const task = cycle.taskId === null ? undefined : this.#bus.task(cycle.taskId);
    if (task?.state === 'claimed' && task.owner === this.#agent.name) await this.#bus.failTask(task.id, why);
    await this.#reflectAndFinish(cycle, why, 'failure', signal);
  }

  async #extendLease(cycle: CycleRecord): Promise<void> {
    if (cycle.taskId === null) return;
    const task = this.#bus.task(cycle.taskId);
    if (task?.state === 'claimed' && task.owner === this.#agent.name) {
      await this.#bus.extendTaskLease(task.id, this.#leaseSeconds);
    }
  }

  async #recordRefused(
    cycle: CycleRecord,
    step: number,
    tool: string,
    args: string,
    code: string,
    message: string,
  ): Promise<void> {
    await this.#bus.beginToolCall({
      cycleId: cycle.id,
      step,
      tool: toolNameForRecord(tool),
      args: args.slice(0, 8_000),
      sideEffect: false,
    });
    await this.#bus.finishToolCall({
      key: `${cycle.id}:${step}`,
      state: 'refused',
      resultDigest: sha256(message),
      result: message.slice(0, MAX_RESULT_CHARS),
      errorCode: code,
      durationMs: 0,
    });
  }

  // ---- Hooks -----------------------------------------------------------------------------------

  /** Runs the agent's hooks for `event`; returns the first rejection's reason, or undefined when all pass. */
  async #runHooks(
    event: HookDefinition['on'],
    input: { cycle?: CycleRecord; taskId?: number; result?: string; signal: AbortSignal },
  ): Promise<string | undefined> {
    return runHooks({
      hooks: this.#agent.hooks,
      event,
      bus: this.#bus,
      toolbox: this.#options.toolbox,
      toolContext: this.#options.toolContext,
      logger: this.#options.logger,
      ...input,
    });
  }

  async #afterTaskCreated(cycle: CycleRecord, output: string, signal: AbortSignal): Promise<void> {
    const id = Number((safeJson(output) as { taskId?: unknown } | null)?.taskId ?? Number.NaN);
    if (!Number.isInteger(id)) return;
    const rejection = await this.#runHooks('task_created', { cycle, taskId: id, signal });
    if (rejection !== undefined) await this.#bus.cancelTask(id, `Rejected by a quality gate: ${rejection}`);
  }

  // ---- Limits, malformed output, reflect -------------------------------------------------------

  async #stopAtLimit(cycle: CycleRecord, limit: string, signal: AbortSignal): Promise<void> {
    const why = `Stopped: limit of ${limit} reached`;
    this.#options.logger.warn({ cycle: cycle.id, limit }, 'cycle stopped at a limit');
    const task = cycle.taskId === null ? undefined : this.#bus.task(cycle.taskId);
    if (task?.state === 'claimed' && task.owner === this.#agent.name) await this.#bus.failTask(task.id, why);
    await this.#bus.requestAttention(
      `${this.#agent.name} stopped cycle ${cycle.id} (${cycle.triggerKey}): limit of ${limit} reached. Look at its tool calls and decide how to continue.`,
      6,
      'leave the work stopped',
      ATTENTION_SECONDS,
    );
    await this.#reflectAndFinish(cycle, why, 'failure', signal);
  }

  async #failMalformed(cycle: CycleRecord, phase: AgentPhase, problem: string, signal: AbortSignal): Promise<void> {
    const why = `The model's ${phase} answer was malformed twice (${problem}); the cycle stopped cleanly`;
    this.#options.logger.warn({ cycle: cycle.id, phase, problem }, 'malformed model output after one repair');
    const task = cycle.taskId === null ? undefined : this.#bus.task(cycle.taskId);
    if (task?.state === 'claimed' && task.owner === this.#agent.name) await this.#bus.failTask(task.id, why);
    // The model just failed twice: the reflection is written without it.
    await this.#recordReflection(
      cycle,
      {
        summary: why,
        outcome: 'failure',
        lessons: 'Malformed output: check the model, its max tokens for this phase, and the prompt size.',
        importance: 0.3,
        tags: ['malformed-output', phase],
      },
      signal,
    );
    await this.#bus.finishCycle(cycle.id, 'failure', why.slice(0, 8_000));
  }

  /**
   * Ends a cycle that keeps failing for a reason that is not the model's answer (a prompt the
   * service refuses, a worker that crashes on it): the task is failed, a reflection written without
   * the model says why, and a human is asked to look.
   */
  async abandon(cycleId: number, error: ClawError, attempts: number, signal: AbortSignal): Promise<void> {
    const cycle = this.#bus.cycle(cycleId);
    if (cycle === undefined || cycle.phase === 'done') return;
    const why = `Gave up after ${attempts} failed attempt${attempts === 1 ? '' : 's'}: ${error.code}: ${error.message}`;
    this.#options.logger.error({ cycle: cycleId, err: error, attempts }, 'cycle abandoned');
    const task = cycle.taskId === null ? undefined : this.#bus.task(cycle.taskId);
    if (task?.state === 'claimed' && task.owner === this.#agent.name)
      await this.#bus.failTask(task.id, why.slice(0, 8_000));
    await this.#recordReflection(
      cycle,
      {
        summary: why.slice(0, 2_000),
        outcome: 'failure',
        lessons: 'Not a model answer problem: check the inference service, the prompt size and the context size.',
        importance: 0.4,
        tags: ['abandoned', error.code.toLowerCase()],
      },
      signal,
    );
    await this.#bus.requestAttention(
      `${this.#agent.name} gave up on cycle ${cycle.id} (${cycle.triggerKey}): ${why}`.slice(0, 8_000),
      6,
      'leave the work stopped',
      ATTENTION_SECONDS,
    );
    // Last, so a cycle that reads as done has everything else recorded.
    await this.#bus.finishCycle(cycle.id, 'failure', why.slice(0, 8_000));
  }

  #endingOf(cycle: CycleRecord): string {
    const calls = this.#bus.toolCalls(cycle.id);
    const last = calls.at(-1);
    return last === undefined
      ? `Resumed while reflecting on ${cycle.triggerKey}`
      : `Last step: ${last.tool} ${last.state}`;
  }

  async #reflectAndFinish(
    cycle: CycleRecord,
    ending: string,
    outcome: 'success' | 'partial' | 'failure' | 'delegated' | undefined,
    signal: AbortSignal,
  ): Promise<void> {
    signal.throwIfAborted();
    if (cycle.phase !== 'reflecting' && cycle.phase !== 'triaging' && cycle.phase !== 'due') {
      await this.#bus.setCyclePhase(cycle.id, 'reflecting');
    }
    const current = this.#cycle(cycle.id);
    await this.#options.report('reflecting', current, 'reflect');
    const observations = this.#bus.toolCalls(cycle.id).map(observationOf);
    const prompt = reflectPrompt({
      agent: this.#agent,
      trigger: current.triggerText,
      decision: current.decision ?? 'none',
      reason: current.reason,
      observations,
      ending,
      budget: this.#budget('reflect'),
    });
    const bounds = this.#bounds('reflect');
    const decided = await this.#decide<ReflectionDecision>(
      current,
      'reflect',
      prompt,
      reflectJsonSchema(bounds),
      (value) => parseReflection(value, bounds),
      signal,
    );
    const reflection: ReflectionDecision = decided.ok
      ? decided.decision
      : {
          summary: `${ending}. (The model's reflection was malformed twice: ${decided.problem})`,
          outcome: outcome === 'delegated' || outcome === undefined ? 'partial' : outcome,
          lessons: '',
          importance: 0.2,
          tags: ['malformed-output', 'reflect'],
        };
    await this.#recordReflection(current, reflection, signal);
    const finalOutcome = outcome ?? reflection.outcome;
    await this.#bus.finishCycle(cycle.id, finalOutcome, ending.slice(0, 8_000));
  }

  async #recordReflection(cycle: CycleRecord, reflection: ReflectionDecision, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    const links: { kind: string; id: number }[] = [{ kind: 'cycle', id: cycle.id }];
    const [kind, id] = cycle.triggerKey.split(':');
    if (kind === 'stimulus' || kind === 'message') links.push({ kind, id: Number(id) });
    for (const call of this.#bus.toolCalls(cycle.id).slice(-40)) links.push({ kind: 'tool_call', id: call.id });
    const text = [
      `${reflection.summary}`,
      reflection.lessons.length > 0 ? `Lessons: ${reflection.lessons}` : '',
      `(${this.#agent.name}, cycle ${cycle.id}, ${cycle.triggerKey}, ${reflection.outcome})`,
    ]
      .filter((part) => part.length > 0)
      .join('\n');
    await this.#bus.recordReflection({
      taskId: cycle.taskId ?? undefined,
      text: text.slice(0, 8_000),
      importance: reflection.importance,
      tags: reflection.tags,
      links,
    });
  }

  /**
   * One structured call with one repair attempt. Each call made is recorded on the cycle (tokens,
   * prompt hash, model, request id). Returns the parsed decision, or what was still wrong after the
   * repair. Errors other than malformed output (a cancelled request, a lost connection) propagate.
   */
  async #decide<T>(
    cycle: CycleRecord,
    phase: AgentPhase,
    prompt: string,
    schema: Record<string, unknown>,
    parse: (value: unknown) => Decided<T>,
    signal: AbortSignal,
  ): Promise<Decided<T>> {
    const settings = this.#agent.model.phases[phase];
    const maxTokens = Math.min(settings.maxTokens, this.#agent.model.maxTokens);
    const priority: InferencePriority = phase;
    let attemptPrompt = prompt;
    let problem = '';
    for (let attempt = 0; attempt < 2; attempt += 1) {
      signal.throwIfAborted();
      let value: unknown;
      const record = (made: { modelId: string; requestId?: string; tokensIn: number; tokensOut: number }) =>
        this.#bus.recordCycleInference({
          cycleId: cycle.id,
          phase: attempt === 0 ? phase : 'repair',
          model: made.modelId,
          requestId: made.requestId ?? '',
          promptHash: sha256(this.#prefix + attemptPrompt),
          maxTokens,
          tokensIn: made.tokensIn,
          tokensOut: made.tokensOut,
        });
      try {
        const reply = await this.#options.inference.structured(attemptPrompt, schema, {
          priority,
          maxTokens,
          prefix: this.#prefix,
          signal,
        });
        signal.throwIfAborted();
        await record(reply);
        value = reply.value;
        if (reply.stopReason === 'max-tokens' && value === undefined)
          throw new ClawError('OUTPUT_INVALID', 'truncated at max tokens');
      } catch (error) {
        if (!(error instanceof ClawError) || (error.code !== 'OUTPUT_INVALID' && error.code !== 'INVALID_RESPONSE'))
          throw error;
        // The service rejected what the model wrote, but the call was made: it belongs to the cycle too.
        const made = rejectedCall(error);
        if (made !== undefined) await record(made);
        problem = error.message;
        attemptPrompt = withRepairNote(prompt, problem);
        continue;
      }
      const parsed = parse(value);
      if (parsed.ok) return parsed;
      problem = parsed.problem;
      attemptPrompt = withRepairNote(prompt, problem);
    }
    return { ok: false, problem };
  }
}

/** The model call behind an OUTPUT_INVALID answer, when the service named it (id, model, tokens). */
function rejectedCall(
  error: ClawError,
): { modelId: string; requestId: string; tokensIn: number; tokensOut: number } | undefined {
  const { requestId, modelId, tokensIn, tokensOut } = error.details ?? {};
  if (typeof requestId !== 'string' || typeof modelId !== 'string') return undefined;
  if (typeof tokensIn !== 'number' || typeof tokensOut !== 'number') return undefined;
  return { requestId, modelId, tokensIn, tokensOut };
}

function observationOf(call: ToolCallRecord): Observation {
  return {
    step: call.step,
    tool: call.tool,
    args: call.args,
    status: call.state === 'succeeded' ? 'ok' : call.errorCode || call.state,
    text: call.result,
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Names the model invents are recorded as `unknown_tool` when they are not valid tool names. */
function toolNameForRecord(name: string): string {
  return /^[a-z][a-z0-9_.-]{0,63}$/.test(name) ? name : 'unknown_tool';
}

/** Runs `hooks` for `event` and records each run; the first rejection's reason, or undefined. */
export async function runHooks(input: {
  hooks: readonly HookDefinition[];
  event: HookDefinition['on'];
  bus: LoopBus;
  toolbox: AgentToolbox;
  toolContext: ToolContextFactory;
  logger: Logger;
  cycle?: CycleRecord;
  taskId?: number;
  result?: string;
  signal: AbortSignal;
}): Promise<string | undefined> {
  for (const hook of input.hooks) {
    if (hook.on !== input.event) continue;
    let reason = '';
    let verdict: 'pass' | 'reject' = 'pass';
    if (hook.check.kind === 'result') {
      if (!new RegExp(hook.check.pattern, 'i').test(input.result ?? '')) {
        verdict = 'reject';
        reason = hook.check.message;
      }
    } else {
      try {
        const result = await input.toolbox.run(
          hook.check.tool,
          hook.check.args,
          input.toolContext({
            cycleId: input.cycle?.id ?? 0,
            step: 0,
            taskId: input.taskId,
            signal: input.signal,
            logger: input.logger.child({ hook: hook.name }),
          }),
        );
        reason = result.text.slice(0, 2_000);
      } catch (error) {
        verdict = 'reject';
        reason = `${hook.check.tool} failed: ${ClawError.from(error, 'TOOL_FAILED').message}`.slice(0, 2_000);
      }
    }
    input.signal.throwIfAborted();
    await input.bus.recordHookRun({
      hook: hook.name,
      event: input.event,
      taskId: input.taskId,
      cycleId: input.cycle?.id,
      verdict,
      reason,
    });
    if (verdict === 'reject') return `Quality gate ${hook.name}: ${reason}`;
  }
  return undefined;
}
