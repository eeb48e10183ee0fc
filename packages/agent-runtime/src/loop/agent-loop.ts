/**
 * The agent's main loop. It subscribes once to the rows it needs and sleeps until a row change could
 * have given it something to do (no polling): then it derives its queue from the database, takes the
 * most urgent event, runs that cycle to its end (or until it parks), and looks again. Events that
 * arrive meanwhile are rows too, so they coalesce into the next look.
 */

import { randomUUID } from 'node:crypto';
import type { AgentToolbox } from '@clawfleet/agent-tools';
import type { AgentDefinition } from '@clawfleet/agents';
import { REACTION_EVENTS } from '@clawfleet/agents';
import type { BusSubscription } from '@clawfleet/bus-client';
import { ClawError, type Logger } from '@clawfleet/protocol';
import { type CycleRecord, LoopBus, loopQueries } from '../bus/loop-bus.ts';
import type { LoopInference, LoopMemory } from '../ports.ts';
import { computeWakeUpQueue, WAKE_TABLES, type WakeEvent } from '../wake-up/wake-up-queue.ts';
import { CycleRunner, runHooks, type ToolContextFactory } from './cycle-runner.ts';

export interface AgentLoopOptions {
  agent: AgentDefinition;
  /** A bus client connected as the agent. */
  bus: import('@clawfleet/bus-client').BusClient;
  inference: LoopInference;
  memory: LoopMemory;
  toolbox: AgentToolbox;
  toolContext: ToolContextFactory;
  logger: Logger;
  /** @default Date.now */
  now?: () => number;
  /** Lease on claimed tasks, renewed every step. @default 300 */
  leaseSeconds?: number;
  /** Called when a cycle is about to be triaged (for the wake-up latency benchmark). */
  onTriageStart?: (event: WakeEvent) => void;
  /** Tokens of context per slot of the agent's model; prompts are built to fit it (CycleRunnerOptions). */
  contextTokens?: number;
  /**
   * Lease of the agent's one-runner claim (`agent_runner`), renewed every third of it. A second
   * instance of the agent waits up to this long at start for the first to go, then fails with
   * CONFLICT; a loop that loses its lease (it stalled past it and another instance took over) stops.
   * @default 30
   */
  runnerLeaseSeconds?: number;
  /** Called when the loop stopped itself because another instance of the agent took its runner lease. */
  onRunnerLost?: (error: ClawError) => void;
}

const HOUR_MS = 3_600_000;
const MAX_BACKOFF_MS = 30_000;
/** Attempts of one cycle that fail with a retryable error before it is abandoned. */
const MAX_ATTEMPTS = 3;
const DEFAULT_RUNNER_LEASE_SECONDS = 30;

export class AgentLoop implements AsyncDisposable {
  readonly #options: AgentLoopOptions;
  readonly #bus: LoopBus;
  readonly #runner: CycleRunner;
  readonly #now: () => number;
  readonly #abort = new AbortController();
  /** This loop's id in `agent_runner`: the database lets one session per agent run a loop. */
  readonly #session = randomUUID();
  readonly #leaseSeconds: number;
  #renewal: NodeJS.Timeout | undefined;
  #renewing = false;
  #subscription: BusSubscription | undefined;
  #running: Promise<void> | undefined;
  #dirty = true;
  #wake: (() => void) | undefined;
  #queueLength = 0;
  #cyclesRun = 0;
  #budgetWarned = false;
  #lastReport = '';
  /** Failed attempts per cycle, since this process started. */
  readonly #failures = new Map<number, number>();

  constructor(options: AgentLoopOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#leaseSeconds = options.runnerLeaseSeconds ?? DEFAULT_RUNNER_LEASE_SECONDS;
    if (!Number.isInteger(this.#leaseSeconds) || this.#leaseSeconds < 2 || this.#leaseSeconds > 600) {
      throw new ClawError(
        'INVALID_PARAMS',
        `Expected \`runnerLeaseSeconds\` to be an integer 2-600, got \`${String(options.runnerLeaseSeconds)}\` (${typeof options.runnerLeaseSeconds})`,
      );
    }
    this.#bus = new LoopBus(options.bus, options.agent.name);
    this.#runner = new CycleRunner({
      agent: options.agent,
      bus: this.#bus,
      inference: options.inference,
      memory: options.memory,
      toolbox: options.toolbox,
      toolContext: options.toolContext,
      logger: options.logger,
      now: this.#now,
      leaseSeconds: options.leaseSeconds ?? 300,
      report: (phase, cycle, progress) => this.#report(phase, cycle, progress),
      ...(options.contextTokens === undefined ? {} : { contextTokens: options.contextTokens }),
    });
  }

  /** Cycles this loop has run (or resumed) since it started. */
  get cyclesRun(): number {
    return this.#cyclesRun;
  }

  /**
   * Claims the agent's runner lease (one loop per agent), subscribes, publishes the agent's schedule
   * and reactions, and starts looping. Resolves once the subscription's rows are in the cache and the
   * loop runs. Rejects with CONFLICT when another instance of the agent keeps its lease.
   */
  async start(): Promise<void> {
    if (this.#running !== undefined) throw new ClawError('CONFLICT', 'The agent loop is already running');
    const agent = this.#options.agent;
    await this.#claimRunner();
    try {
      this.#renewal = setInterval(() => void this.#renewRunner(), Math.floor((this.#leaseSeconds * 1_000) / 3));
      this.#renewal.unref();
      this.#subscription = this.#options.bus.subscribe(loopQueries(agent.name, agent.approvesPlans), {
        onInsert: (_row, table) => this.#changed(table),
        onUpdate: (_old, _new, table) => this.#changed(table),
        onApplied: () => this.#changed('cycle'),
      });
      await this.#subscription.ready;
      await this.#bus.setSchedule(agent.wakeUp.scheduleSeconds);
      for (const event of REACTION_EVENTS) {
        const reaction = agent.reactions.find((candidate) => candidate.event === event);
        const exists = this.#bus.rows('reaction_rule').some((row) => row.agent === agent.name && row.event === event);
        if (reaction !== undefined || exists) {
          await this.#bus.setReaction(event, reaction?.priority ?? 0, reaction !== undefined);
        }
      }
      await this.#report('idle', undefined, 'started');
    } catch (error) {
      // A start that fails part-way leaves no lease behind to block the next one.
      clearInterval(this.#renewal);
      this.#renewal = undefined;
      await this.#subscription?.dispose().catch(() => {});
      await this.#bus.releaseRunner(this.#session).catch(() => {});
      throw error;
    }
    this.#running = this.#loop();
  }

  /**
   * Stops the loop where it is (the current cycle is left as recorded, to resume later), gives up the
   * runner lease (so a restart need not wait for it) and unsubscribes.
   */
  async stop(): Promise<void> {
    clearInterval(this.#renewal);
    this.#renewal = undefined;
    this.#abort.abort(new ClawError('CANCELLED', 'The agent loop stopped'));
    this.#wake?.();
    await this.#running?.catch(() => {});
    await this.#bus.releaseRunner(this.#session).catch((error: unknown) => {
      // A closed connection frees the lease by itself; another session's lease is not ours to drop.
      this.#options.logger.debug({ err: error }, 'runner lease not released');
    });
    await this.#subscription?.dispose();
  }

  /**
   * Takes the runner lease. While another instance holds it, waits (that instance may be a killed
   * process whose connection has not closed yet, or one that is stopping) up to one lease, then fails.
   */
  async #claimRunner(): Promise<void> {
    const deadline = Date.now() + this.#leaseSeconds * 1_000 + 1_000;
    let waitingLogged = false;
    for (;;) {
      try {
        await this.#bus.claimRunner(this.#session, this.#leaseSeconds);
        return;
      } catch (error) {
        if (!(error instanceof ClawError) || error.code !== 'REDUCER_REJECTED') throw error;
        if (Date.now() >= deadline) {
          throw new ClawError('CONFLICT', `Cannot start ${this.#options.agent.name}'s loop: ${error.message}`, {
            cause: error,
            details: { agent: this.#options.agent.name },
          });
        }
        if (!waitingLogged) {
          waitingLogged = true;
          this.#options.logger.warn({ reason: error.message }, 'another instance holds the runner lease; waiting');
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(1_000, (this.#leaseSeconds * 1_000) / 4)));
      }
    }
  }

  async #renewRunner(): Promise<void> {
    if (this.#renewing || this.#abort.signal.aborted) return;
    this.#renewing = true;
    try {
      await this.#bus.claimRunner(this.#session, this.#leaseSeconds);
    } catch (error) {
      if (this.#abort.signal.aborted) return;
      if (error instanceof ClawError && error.code === 'REDUCER_REJECTED') {
        // Another instance took over while this one did not renew: two loops must never run the same
        // cycles, so this one stops where it is.
        const lost = new ClawError(
          'CONFLICT',
          `${this.#options.agent.name}'s runner lease was taken over: ${error.message}`,
          {
            cause: error,
          },
        );
        this.#options.logger.error({ err: lost }, 'runner lease lost; the loop stops');
        clearInterval(this.#renewal);
        this.#renewal = undefined;
        this.#abort.abort(lost);
        this.#wake?.();
        this.#options.onRunnerLost?.(lost);
        return;
      }
      // A lost connection: the lease went with it, and the next renewal claims it again.
      this.#options.logger.warn({ err: error }, 'runner lease renewal failed');
    } finally {
      this.#renewing = false;
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  #changed(table: string): void {
    if (!WAKE_TABLES.has(table)) return;
    this.#dirty = true;
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Waits for a row change that could matter, an abort, or `ms` (a time the database set). */
  async #sleep(ms?: number): Promise<void> {
    if (this.#dirty || this.#abort.signal.aborted) return;
    await new Promise<void>((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(resolve, ms);
      this.#wake = () => {
        if (timer !== undefined) clearTimeout(timer);
        resolve();
      };
    });
  }

  async #loop(): Promise<void> {
    const signal = this.#abort.signal;
    const logger = this.#options.logger;
    let backoff = 0;
    let idleHooksDue = false;
    while (!signal.aborted) {
      this.#dirty = false;
      const queue = computeWakeUpQueue(this.#bus, {
        agent: this.#options.agent.name,
        scope: this.#options.agent.wakeUp,
        approvesPlans: this.#options.agent.approvesPlans,
        identity: this.#options.bus.identity,
      });
      this.#queueLength = queue.length;
      const event = queue[0];
      if (event === undefined) {
        try {
          if (idleHooksDue) {
            idleHooksDue = false;
            await this.#idleHooks(signal);
          }
          await this.#report('idle', undefined, 'waiting');
        } catch (error) {
          if (signal.aborted) return;
          logger.warn({ err: error }, 'reporting idle failed');
        }
        await this.#sleep();
        continue;
      }
      const budgetWait = this.#hourlyBudgetWait();
      if (budgetWait > 0) {
        await this.#budgetExhausted(budgetWait);
        await this.#sleep(budgetWait);
        continue;
      }
      let cycleId: number | undefined;
      try {
        cycleId = await this.#cycleFor(event, signal);
        if (cycleId !== undefined) {
          this.#cyclesRun += 1;
          await this.#runner.run(cycleId, signal);
          this.#failures.delete(cycleId);
        }
        backoff = 0;
        idleHooksDue = true;
      } catch (error) {
        if (signal.aborted) return;
        const clawError = ClawError.from(error, 'INTERNAL');
        const attempts = cycleId === undefined ? 0 : (this.#failures.get(cycleId) ?? 0) + 1;
        if (cycleId !== undefined) this.#failures.set(cycleId, attempts);
        // A failure that will not go away by retrying (refused input, a bug) or keeps coming back
        // ends the cycle cleanly instead of retrying it forever.
        if (cycleId !== undefined && (!clawError.retryable || attempts >= MAX_ATTEMPTS)) {
          this.#failures.delete(cycleId);
          try {
            await this.#runner.abandon(cycleId, clawError, attempts, signal);
            continue;
          } catch (abandonError) {
            if (signal.aborted) return;
            logger.error({ err: abandonError }, 'could not record the abandoned cycle');
          }
        }
        // A lost connection, a crashed worker: the cycle stays as recorded and is resumed after a pause.
        backoff = Math.min(MAX_BACKOFF_MS, backoff === 0 ? 500 : backoff * 2);
        logger.error(
          { err: error, event: event.type === 'new' ? event.key : event.cycle.triggerKey, backoff },
          'cycle failed; will resume',
        );
        await new Promise((resolve) => setTimeout(resolve, backoff));
        this.#dirty = true;
      }
    }
  }

  /**
   * Begins a cycle for a new event; the cycle id to run. A refusal because the trigger has a cycle
   * already (one begun just before a restart) runs that cycle: the runner lease makes this loop the
   * only one of its agent, so no other process is running it.
   */
  async #cycleFor(event: WakeEvent, signal: AbortSignal): Promise<number | undefined> {
    if (event.type === 'resume') return event.cycle.id;
    this.#options.onTriageStart?.(event);
    signal.throwIfAborted();
    try {
      await this.#bus.beginCycle({
        triggerKind: event.kind,
        triggerKey: event.key,
        triggerText: event.text.slice(0, 8_000),
        taskId: event.taskId,
        priority: event.priority,
      });
    } catch (error) {
      if (!(error instanceof ClawError) || error.code !== 'REDUCER_REJECTED') throw error;
    }
    return this.#bus.cycleByTrigger(event.key)?.id;
  }

  /** Milliseconds until the hourly token budget frees up; 0 when there is budget left. */
  #hourlyBudgetWait(): number {
    const now = this.#now();
    const used = this.#bus.tokensSince((now - HOUR_MS) * 1_000);
    if (used.tokens < this.#options.agent.limits.tokensPerHour || used.oldestMicros === null) {
      this.#budgetWarned = false;
      return 0;
    }
    return Math.max(1_000, Math.ceil(used.oldestMicros / 1_000 + HOUR_MS - now));
  }

  async #budgetExhausted(waitMs: number): Promise<void> {
    const limit = this.#options.agent.limits.tokensPerHour;
    await this.#report(
      'idle',
      undefined,
      `hourly budget of ${limit} tokens spent; waiting ${Math.ceil(waitMs / 1000)} s`,
    );
    if (this.#budgetWarned) return;
    this.#budgetWarned = true;
    this.#options.logger.warn({ limit, waitMs }, 'hourly token budget spent');
    await this.#bus.requestAttention(
      `${this.#options.agent.name} spent its hourly budget of ${limit} tokens and pauses for ${Math.ceil(waitMs / 60_000)} min.`,
      5,
      'wait for the budget to free up',
      3_600,
    );
  }

  async #idleHooks(signal: AbortSignal): Promise<void> {
    if (!this.#options.agent.hooks.some((hook) => hook.on === 'agent_idle')) return;
    await runHooks({
      hooks: this.#options.agent.hooks,
      event: 'agent_idle',
      bus: this.#bus,
      toolbox: this.#options.toolbox,
      toolContext: this.#options.toolContext,
      logger: this.#options.logger,
      signal,
    });
  }

  async #report(phase: string, cycle: CycleRecord | undefined, progress: string): Promise<void> {
    // Every wake-up of an idle agent would otherwise write the same idle row again.
    const key = `${phase}|${cycle?.id ?? ''}|${progress}|${this.#queueLength}`;
    if (key === this.#lastReport) return;
    this.#lastReport = key;
    await this.#bus.reportStatus({
      phase,
      cycleId: cycle?.id,
      taskId: cycle?.taskId ?? undefined,
      progress: progress.slice(0, 200),
      queueLength: this.#queueLength,
    });
  }
}
