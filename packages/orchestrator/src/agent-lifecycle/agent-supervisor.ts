import { type AgentControlAction, ClawError, type Logger, silentLogger } from '@clawfleet/protocol';
import type { AgentExit, AgentInstance, AgentLaunchSpec, AgentRuntime } from './agent-runtime.ts';

export interface RestartPolicy {
  /** Wait before the first restart. @default 1000 */
  initialDelayMs: number;
  /** Longest wait between restarts. @default 30000 */
  maxDelayMs: number;
  /** Each consecutive crash multiplies the wait by this. @default 2 */
  multiplier: number;
  /** This many crashes within `crashWindowMs` and the agent is given up on. @default 5 */
  maxCrashes: number;
  /** @default 120000 */
  crashWindowMs: number;
  /** A run at least this long counts as healthy: the next crash starts the backoff over. @default 60000 */
  stableAfterMs: number;
  /**
   * Exit codes that restarting cannot fix: the agent is given up on at the first one.
   * @default [78] (EX_CONFIG: the agent's configuration is wrong)
   */
  fatalExitCodes: readonly number[];
}

export const DEFAULT_RESTART_POLICY: Readonly<RestartPolicy> = Object.freeze({
  initialDelayMs: 1_000,
  maxDelayMs: 30_000,
  multiplier: 2,
  maxCrashes: 5,
  crashWindowMs: 120_000,
  stableAfterMs: 60_000,
  fatalExitCodes: [78],
});

/**
 * When a running instance counts as stalled: it is up but its heartbeats stopped (a hung or frozen
 * event loop, a wedged connection). Agents heartbeat from a timer on their event loop while their
 * model calls run in the orchestrator, so a healthy agent in a long model call keeps heartbeating;
 * only a loop blocked past these limits, or a process that no longer runs, trips them.
 */
export interface StallPolicy {
  /** A running instance whose last heartbeat is older than this is restarted. @default 60000 */
  heartbeatTimeoutMs: number;
  /**
   * A running instance whose connection is gone (the IPC server drops a peer that misses its pings:
   * PEER_UNRESPONSIVE) and that has not reconnected for this long is restarted. @default 30000
   */
  offlineTimeoutMs: number;
  /** No stall is judged this long after a launch: start-up (connect, memory, runner lease). @default 60000 */
  startupGraceMs: number;
  /** How often the instances are checked. @default 5000 */
  checkIntervalMs: number;
  /** SIGTERM, then SIGKILL after this, for a stalled instance. @default 10000 */
  stopGraceMs: number;
}

export const DEFAULT_STALL_POLICY: Readonly<StallPolicy> = Object.freeze({
  heartbeatTimeoutMs: 60_000,
  offlineTimeoutMs: 30_000,
  startupGraceMs: 60_000,
  checkIntervalMs: 5_000,
  stopGraceMs: 10_000,
});

/** What the database says about an agent's presence, read at each stall check. */
export interface AgentLiveness {
  /** Whether the agent has a connection open now. */
  online: boolean;
  /** Milliseconds since its last heartbeat; undefined when it never sent one. */
  heartbeatAgeMs: number | undefined;
}

/**
 * starting → running → (crashed →) backing-off → starting ...; given-up and stopped are final, except
 * that a person may `restart` a given-up agent; `paused` (by a person) lasts until `resume`.
 */
export type SupervisedState = 'starting' | 'running' | 'backing-off' | 'given-up' | 'paused' | 'stopping' | 'stopped';

/** What a person may ask of one supervised agent (`claw agents restart|pause|resume`). */
export type { AgentControlAction } from '@clawfleet/protocol';

export interface SupervisedAgentStatus {
  agent: string;
  state: SupervisedState;
  /** The running instance's runtime id (`process 4242`), when one runs. */
  instance: string | undefined;
  /** Whether the running instance was left by an earlier orchestrator and taken over. */
  adopted: boolean;
  /** Launches after the first. */
  restarts: number;
  /** Crashes within the crash window now. */
  recentCrashes: number;
  lastExit: AgentExit | undefined;
  /** Why the last restart happened (`crashed (exit code 1)`, `stalled: no heartbeat for 62 s`, ...). */
  lastRestartReason: string | undefined;
}

export type SupervisorEvent =
  | { type: 'started'; agent: string; instance: string; adopted: boolean }
  | { type: 'exited'; agent: string; exit: AgentExit; expected: boolean }
  | { type: 'stalled'; agent: string; instance: string; reason: string }
  | { type: 'restart-scheduled'; agent: string; delayMs: number; reason: string }
  | { type: 'given-up'; agent: string; crashes: number; lastExit: AgentExit }
  | { type: 'stopped'; agent: string };

export interface AgentSupervisorOptions {
  runtime: AgentRuntime;
  agents: readonly AgentLaunchSpec[];
  restart?: Partial<RestartPolicy>;
  /**
   * Called once when an agent is given up on (the orchestrator raises an attention request). A
   * failure here is logged; it never stops the supervisor.
   */
  onGiveUp?: (report: {
    agent: string;
    crashes: number;
    lastExit: AgentExit;
    windowMs: number;
    /** Why the last instance ended: `crashed (exit code 1)`, `stalled: no heartbeat for 62 s`. */
    lastReason: string;
  }) => void | Promise<void>;
  /**
   * The agents' presence in the database, for stall detection (see `StallPolicy`); without it no
   * stall is detected and only exits are acted on. Undefined for an agent means: nothing known.
   */
  liveness?: (agent: string) => AgentLiveness | undefined;
  stall?: Partial<StallPolicy>;
  /** Every state change, for logs and tests. */
  onEvent?: (event: SupervisorEvent) => void;
  logger?: Logger;
  /** Clock, for the crash window and the stable-run check. @default performance.now */
  now?: () => number;
}

interface Supervised {
  spec: AgentLaunchSpec;
  state: SupervisedState;
  instance: AgentInstance | undefined;
  startedAt: number;
  restarts: number;
  consecutiveCrashes: number;
  crashTimes: number[];
  lastExit: AgentExit | undefined;
  timer: NodeJS.Timeout | undefined;
  /** Set while a person's restart or pause stops the instance: its exit is not a crash. */
  held: boolean;
  /** Since when (supervisor clock) the running instance has been seen offline. */
  offlineSince: number | undefined;
  /** Set when the supervisor stops a stalled instance: why, for the restart that follows. */
  stallReason: string | undefined;
  lastRestartReason: string | undefined;
}

/**
 * Keeps each agent running through an `AgentRuntime`: an agent that exits while it should run is
 * restarted after an exponential backoff; one that crashes `maxCrashes` times within the crash
 * window is given up on (left stopped, `onGiveUp` called). `stop()` stops them all, each with a
 * grace period, and restarts nothing afterwards.
 */
export class AgentSupervisor {
  readonly #runtime: AgentRuntime;
  readonly #policy: RestartPolicy;
  readonly #agents = new Map<string, Supervised>();
  readonly #onGiveUp: AgentSupervisorOptions['onGiveUp'];
  readonly #onEvent: AgentSupervisorOptions['onEvent'];
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #liveness: AgentSupervisorOptions['liveness'];
  readonly #stall: StallPolicy;
  #stallCheck: NodeJS.Timeout | undefined;
  #stopping = false;

  constructor(options: AgentSupervisorOptions) {
    this.#runtime = options.runtime;
    this.#policy = { ...DEFAULT_RESTART_POLICY, ...options.restart };
    for (const [key, value] of Object.entries(this.#policy)) {
      if (key === 'fatalExitCodes') continue;
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
        throw new ClawError('CONFIG_INVALID', `Expected restart policy \`${key}\` to be a number >= 0, got ${value}`);
      }
    }
    this.#stall = { ...DEFAULT_STALL_POLICY, ...options.stall };
    for (const [key, value] of Object.entries(this.#stall)) {
      const least = key === 'checkIntervalMs' ? 1 : 0;
      if (typeof value !== 'number' || !Number.isFinite(value) || value < least) {
        throw new ClawError(
          'CONFIG_INVALID',
          `Expected stall policy \`${key}\` to be a number >= ${least}, got ${value}`,
        );
      }
    }
    this.#liveness = options.liveness;
    for (const spec of options.agents) {
      if (this.#agents.has(spec.agent))
        throw new ClawError('CONFIG_INVALID', `Agent ${spec.agent} is supervised twice`);
      this.#agents.set(spec.agent, {
        spec,
        state: 'stopped',
        instance: undefined,
        startedAt: 0,
        restarts: 0,
        consecutiveCrashes: 0,
        crashTimes: [],
        lastExit: undefined,
        timer: undefined,
        held: false,
        offlineSince: undefined,
        stallReason: undefined,
        lastRestartReason: undefined,
      });
    }
    this.#onGiveUp = options.onGiveUp;
    this.#onEvent = options.onEvent;
    this.#logger = (options.logger ?? silentLogger).child({
      component: 'agent-supervisor',
      runtime: this.#runtime.kind,
    });
    this.#now = options.now ?? (() => performance.now());
  }

  /** The runtime the agents run on (`process`, `docker`). */
  get runtimeKind(): string {
    return this.#runtime.kind;
  }

  /**
   * Launches every agent, taking over the ones an earlier orchestrator left running where the
   * runtime can (containers; see `AgentRuntime.canAdopt`). An agent whose launch fails is treated as
   * a crash (backoff, then give-up).
   */
  async start(): Promise<void> {
    if (this.#liveness !== undefined && this.#stallCheck === undefined) {
      this.#stallCheck = setInterval(() => this.checkStalls(), this.#stall.checkIntervalMs);
      this.#stallCheck.unref();
    }
    await Promise.all([...this.#agents.values()].map((supervised) => this.#launch(supervised, { adopt: true })));
  }

  status(): SupervisedAgentStatus[] {
    const now = this.#now();
    return [...this.#agents.values()].map((supervised) => ({
      agent: supervised.spec.agent,
      state: supervised.state,
      instance: supervised.instance?.id,
      adopted: supervised.instance?.adopted ?? false,
      restarts: supervised.restarts,
      recentCrashes: supervised.crashTimes.filter((time) => now - time <= this.#policy.crashWindowMs).length,
      lastExit: supervised.lastExit,
      lastRestartReason: supervised.lastRestartReason,
    }));
  }

  /**
   * Restarts every running instance that stalled (see `StallPolicy`): SIGTERM, then SIGKILL after
   * `stopGraceMs`, through the runtime's `AgentInstance.stop`, so it works the same for processes and
   * containers. The exit counts as a crash (backoff, the same crash budget, then an attention
   * request). Paused agents, agents starting or stopping, and instances within their start-up
   * grace are never touched. Runs every `checkIntervalMs` once started; tests call it directly.
   */
  checkStalls(): void {
    if (this.#liveness === undefined || this.#stopping) return;
    const now = this.#now();
    for (const supervised of this.#agents.values()) {
      const instance = supervised.instance;
      if (supervised.state !== 'running' || instance === undefined || supervised.held) continue;
      if (now - supervised.startedAt < this.#stall.startupGraceMs) continue;
      let liveness: AgentLiveness | undefined;
      try {
        liveness = this.#liveness(supervised.spec.agent);
      } catch (error) {
        this.#logger.warn({ err: error, agent: supervised.spec.agent }, 'could not read the agent liveness');
        continue;
      }
      if (liveness === undefined) continue;
      if (liveness.online) supervised.offlineSince = undefined;
      else supervised.offlineSince ??= now;
      const offlineMs = supervised.offlineSince === undefined ? 0 : now - supervised.offlineSince;
      const reason =
        liveness.heartbeatAgeMs === undefined || liveness.heartbeatAgeMs > this.#stall.heartbeatTimeoutMs
          ? `stalled: no heartbeat for ${liveness.heartbeatAgeMs === undefined ? 'its whole run' : `${Math.round(liveness.heartbeatAgeMs / 1000)} s`}`
          : offlineMs >= this.#stall.offlineTimeoutMs
            ? `stalled: disconnected for ${Math.round(offlineMs / 1000)} s and not reconnected`
            : undefined;
      if (reason === undefined) continue;
      const agent = supervised.spec.agent;
      supervised.stallReason = reason;
      supervised.state = 'stopping';
      this.#logger.warn(
        { agent, instance: instance.id, reason, graceMs: this.#stall.stopGraceMs },
        'agent stalled; stopping it to restart it',
      );
      this.#emit({ type: 'stalled', agent, instance: instance.id, reason });
      instance.stop({ graceMs: this.#stall.stopGraceMs }).catch((error: unknown) => {
        this.#logger.error({ err: error, agent, instance: instance.id }, 'could not stop the stalled agent');
      });
    }
  }

  /** The running instance of an agent, if one runs (tests send it signals). */
  instance(agent: string): AgentInstance | undefined {
    return this.#agents.get(agent)?.instance;
  }

  /**
   * Stops every agent: no restart is scheduled from now on, pending ones are cancelled, and each
   * running instance gets SIGTERM and, after `graceMs`, SIGKILL. Resolves when all have ended.
   */
  async stop(options: { graceMs: number }): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#stallCheck);
    this.#stallCheck = undefined;
    await Promise.all(
      [...this.#agents.values()].map(async (supervised) => {
        if (supervised.timer !== undefined) clearTimeout(supervised.timer);
        supervised.timer = undefined;
        const instance = supervised.instance;
        if (instance !== undefined) {
          supervised.state = 'stopping';
          await instance.stop({ graceMs: options.graceMs });
        }
        if (supervised.state !== 'given-up') supervised.state = 'stopped';
        this.#emit({ type: 'stopped', agent: supervised.spec.agent });
      }),
    );
  }

  /**
   * A person's control of one agent. `pause` stops it (SIGTERM, then SIGKILL after `graceMs`) and
   * keeps it stopped, restarting nothing until `resume`. `restart` stops the running instance, if
   * any, and launches a fresh one at once, from any state (a given-up agent gets a new crash
   * budget). `resume` launches a paused agent. Resolves with the agent's status afterwards.
   */
  async control(
    agent: string,
    action: AgentControlAction,
    options: { graceMs: number },
  ): Promise<SupervisedAgentStatus> {
    const supervised = this.#agents.get(agent);
    if (supervised === undefined) {
      throw new ClawError(
        'NOT_FOUND',
        `No supervised agent \`${agent}\` (agents: ${[...this.#agents.keys()].join(', ')})`,
      );
    }
    if (this.#stopping) throw new ClawError('SHUTTING_DOWN', 'The orchestrator is stopping its agents');
    if (action === 'resume' && supervised.state !== 'paused') {
      throw new ClawError('CONFLICT', `${agent} is ${supervised.state}, not paused`, { retryable: false });
    }
    if (action === 'pause' && supervised.state === 'paused') {
      throw new ClawError('CONFLICT', `${agent} is already paused`, { retryable: false });
    }
    if (supervised.held)
      throw new ClawError(
        'CONFLICT',
        `${agent} is being ${supervised.state === 'paused' ? 'paused' : 'restarted'}; try again`,
      );
    if (supervised.timer !== undefined) clearTimeout(supervised.timer);
    supervised.timer = undefined;
    if (action !== 'resume') {
      const instance = supervised.instance;
      if (instance !== undefined) {
        supervised.held = true;
        supervised.state = 'stopping';
        try {
          await instance.stop({ graceMs: options.graceMs });
          // The exit handler ran (instance cleared) while `held` was set, so it counted no crash.
          await instance.exited;
        } finally {
          supervised.held = false;
        }
      }
    }
    this.#logger.info(
      { agent, action },
      `agent ${action === 'pause' ? 'paused' : action === 'resume' ? 'resumed' : 'restarted'} by a person`,
    );
    if (action === 'pause') {
      supervised.state = 'paused';
    } else {
      supervised.consecutiveCrashes = 0;
      supervised.crashTimes = [];
      if (action === 'restart') {
        supervised.restarts += 1;
        supervised.lastRestartReason = 'restarted by a person';
      }
      await this.#launch(supervised);
    }
    return this.status().find((status) => status.agent === agent)!;
  }

  async #launch(supervised: Supervised, options: { adopt?: boolean } = {}): Promise<void> {
    if (this.#stopping) return;
    const agent = supervised.spec.agent;
    supervised.state = 'starting';
    let instance: AgentInstance;
    try {
      instance = await this.#runtime.launch(supervised.spec, { adopt: options.adopt === true });
    } catch (error) {
      this.#logger.error({ err: error, agent }, 'agent could not be launched');
      this.#crashed(supervised, { code: null, signal: null }, 'could not be launched');
      return;
    }
    if (this.#stopping) {
      await instance.stop({ graceMs: 0 });
      return;
    }
    supervised.instance = instance;
    supervised.state = 'running';
    supervised.startedAt = this.#now();
    supervised.offlineSince = undefined;
    supervised.stallReason = undefined;
    if (instance.adopted) this.#logger.info({ agent, instance: instance.id }, 'adopted the running agent');
    this.#emit({ type: 'started', agent, instance: instance.id, adopted: instance.adopted });
    void instance.exited.then((exit) => {
      supervised.instance = undefined;
      supervised.lastExit = exit;
      const expected = this.#stopping || supervised.held;
      const stallReason = supervised.stallReason;
      supervised.stallReason = undefined;
      this.#emit({ type: 'exited', agent, exit, expected });
      if (expected) return;
      if (stallReason === undefined)
        this.#logger.warn({ agent, instance: instance.id, ...exit }, 'agent exited unexpectedly');
      else this.#logger.warn({ agent, instance: instance.id, ...exit, reason: stallReason }, 'stalled agent stopped');
      if (this.#now() - supervised.startedAt >= this.#policy.stableAfterMs) supervised.consecutiveCrashes = 0;
      this.#crashed(supervised, exit, stallReason ?? `crashed (${describeExit(exit)})`);
    });
  }

  #crashed(supervised: Supervised, exit: AgentExit, reason: string): void {
    const agent = supervised.spec.agent;
    const now = this.#now();
    supervised.lastExit = exit;
    supervised.consecutiveCrashes += 1;
    supervised.crashTimes = [...supervised.crashTimes, now].filter((time) => now - time <= this.#policy.crashWindowMs);
    const fatal = exit.code !== null && this.#policy.fatalExitCodes.includes(exit.code);
    if (fatal || supervised.crashTimes.length >= this.#policy.maxCrashes) {
      supervised.state = 'given-up';
      const report = {
        agent,
        crashes: supervised.crashTimes.length,
        lastExit: exit,
        windowMs: this.#policy.crashWindowMs,
        lastReason: reason,
      };
      this.#logger.error(
        { ...report, fatal },
        fatal
          ? `agent exited with ${exit.code}, which a restart cannot fix: given up on, raising an attention request`
          : 'agent keeps crashing: given up on, raising an attention request',
      );
      this.#emit({ type: 'given-up', agent, crashes: report.crashes, lastExit: exit });
      Promise.resolve()
        .then(() => this.#onGiveUp?.(report))
        .catch((error: unknown) => this.#logger.error({ err: error, agent }, 'could not report a given-up agent'));
      return;
    }
    const delayMs = Math.min(
      this.#policy.maxDelayMs,
      this.#policy.initialDelayMs * this.#policy.multiplier ** (supervised.consecutiveCrashes - 1),
    );
    supervised.state = 'backing-off';
    this.#emit({ type: 'restart-scheduled', agent, delayMs, reason });
    supervised.timer = setTimeout(() => {
      supervised.timer = undefined;
      supervised.restarts += 1;
      supervised.lastRestartReason = reason;
      void this.#launch(supervised);
    }, delayMs);
  }

  #emit(event: SupervisorEvent): void {
    try {
      this.#onEvent?.(event);
    } catch (error) {
      this.#logger.warn({ err: error }, 'supervisor event listener threw');
    }
  }
}

/** `exit code 1`, `signal SIGKILL`, or `no exit status` (a launch that failed). */
export function describeExit(exit: AgentExit): string {
  if (exit.signal !== null) return `signal ${exit.signal}`;
  return exit.code === null ? 'no exit status' : `exit code ${exit.code}`;
}
