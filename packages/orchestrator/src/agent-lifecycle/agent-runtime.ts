/**
 * The port the orchestrator supervises agents through. It says nothing about processes or
 * containers: the process runtime (process/) starts `node` children, the docker runtime (docker/)
 * starts containers, and both pass `describeAgentRuntimeContract` (orchestrator/testing).
 */

/** How an agent instance ended. `signal` is set when it was ended by one (SIGKILL, SIGTERM). */
export interface AgentExit {
  code: number | null;
  signal: string | null;
}

/**
 * What an agent's definition (`agent.json` `container`) and the orchestrator's config ask of its
 * sandbox. A container runtime enforces all of it; the process runtime cannot enforce any of it
 * (an agent process shares the orchestrator's network, memory and process table) and ignores it.
 */
export interface AgentSandboxRequest {
  /** Whether the agent may reach the network. @default false */
  readonly network?: boolean;
  /** Memory limit in bytes (no swap beyond it). */
  readonly memoryBytes?: number;
  /** Most processes and threads at once. */
  readonly pids?: number;
}

/** What one agent needs to start: its name and its complete environment (nothing else is inherited). */
export interface AgentLaunchSpec {
  readonly agent: string;
  readonly environment: Readonly<Record<string, string>>;
  /** @default {} (no network; the runtime's default limits) */
  readonly sandbox?: AgentSandboxRequest;
}

export interface AgentLaunchOptions {
  /**
   * May the runtime take over an instance of this agent that an earlier orchestrator left running,
   * instead of starting a new one? Only where it was started from the same spec (image, environment,
   * limits); any other leftover is removed first, so an agent never runs twice. The supervisor asks
   * for it at its start only: a restart after a crash always means a fresh instance.
   * A runtime with `canAdopt: false` starts a fresh instance whatever this says.
   * @default false
   */
  readonly adopt?: boolean;
}

/** One running agent. */
export interface AgentInstance {
  readonly agent: string;
  /** Runtime-specific, for logs and status only (`process 4242`, `container 3f2a…`). */
  readonly id: string;
  /** True when this instance was left running by an earlier orchestrator and taken over. */
  readonly adopted: boolean;
  /** Resolves once, when the instance has ended, however it ended. */
  readonly exited: Promise<AgentExit>;
  /** Sends a signal (a runtime without signals maps TERM/KILL to its own stop and kill). */
  signal(signal: 'SIGTERM' | 'SIGKILL'): void;
  /**
   * Asks the agent to stop (SIGTERM), and kills it (SIGKILL) if it has not ended after `graceMs`.
   * Resolves with its exit; stopping an instance that already ended resolves with that exit.
   */
  stop(options: { graceMs: number }): Promise<AgentExit>;
}

export interface AgentRuntime {
  /** `process`, `docker`: for logs and status. */
  readonly kind: string;
  /**
   * Whether `launch({ adopt: true })` can take over a running leftover. Containers outlive the
   * orchestrator and can be found again by their labels and attached to; an orphaned child process
   * cannot be given stdout/stderr pipes or an exit status again, so the process runtime kills it.
   */
  readonly canAdopt: boolean;
  /**
   * Starts one agent (or, with `adopt`, takes over a matching running one). Rejects (ClawError) when
   * it cannot be started at all; a crash after start shows in `exited`.
   */
  launch(spec: AgentLaunchSpec, options?: AgentLaunchOptions): Promise<AgentInstance>;
}
