/**
 * The port the orchestrator supervises agents through. It says nothing about processes or
 * containers: the process runtime (process/) starts `node` children, a container runtime will
 * start containers, and both pass `describeAgentRuntimeContract` (orchestrator/testing).
 */

/** How an agent instance ended. `signal` is set when it was ended by one (SIGKILL, SIGTERM). */
export interface AgentExit {
  code: number | null;
  signal: string | null;
}

/** What one agent needs to start: its name and its complete environment (nothing else is inherited). */
export interface AgentLaunchSpec {
  readonly agent: string;
  readonly environment: Readonly<Record<string, string>>;
}

/** One running agent. */
export interface AgentInstance {
  readonly agent: string;
  /** Runtime-specific, for logs and status only (`process 4242`, a container id). */
  readonly id: string;
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
  /** Starts one agent. Rejects (ClawError) when it cannot be started at all; a crash after start shows in `exited`. */
  launch(spec: AgentLaunchSpec): Promise<AgentInstance>;
}
