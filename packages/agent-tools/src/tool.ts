import type { BusClient } from '@clawfleet/bus-client';
import type { JsonValue, Logger } from '@clawfleet/protocol';
import type { ZodType } from 'zod';

/**
 * What a tool hands back. `output` is what gets recorded (its digest goes into the tool-call row)
 * and must survive JSON; `text` is the short observation the model reads on its next step.
 */
export interface ToolResult {
  output: JsonValue;
  text: string;
}

/** A memory as the memory tools show it to the model. */
export interface ToolMemoryHit {
  id: number;
  text: string;
  tier: string;
  scope: string;
  score: number;
}

/**
 * The part of the memory package the tools use. The agent runtime adapts `@clawfleet/memory` to
 * it, so this package depends on neither the runtime nor the memory implementation. Every call is
 * made as the agent itself: scope and ownership are enforced by the database, not here.
 */
export interface ToolMemory {
  search(query: string, options: { limit: number; signal: AbortSignal }): Promise<readonly ToolMemoryHit[]>;
  writeNote(
    note: { text: string; importance: number; tags: readonly string[] },
    options: { signal: AbortSignal },
  ): Promise<{ id: number }>;
  share(entryId: number, options: { signal: AbortSignal }): Promise<void>;
}

/**
 * Read-only views of the orchestrator that the system tools show. `inferenceStatus` is an IPC call
 * (`inference.status`); the result is passed through as JSON.
 */
export interface ToolSystem {
  inferenceStatus(options: { signal: AbortSignal }): Promise<JsonValue>;
}

/** Everything a tool run may use. One context per step; nothing in it outlives the step. */
export interface ToolContext {
  /** The agent running the tool (its bus identity is the one `bus` is connected as). */
  readonly agent: string;
  /** The act cycle (`cycle` row id) this step belongs to; with `step` it forms the call's idempotency key. */
  readonly cycleId: number;
  readonly step: number;
  /** The task the cycle works on, when it works on one. */
  readonly taskId?: number;
  /** Absolute path of the agent's own workspace: the only place it may write. */
  readonly workspaceDir: string;
  /** Absolute path of the shared workspace: readable by every agent. */
  readonly sharedDir: string;
  readonly bus: BusClient;
  readonly memory: ToolMemory;
  readonly system: ToolSystem;
  /** Aborted when the cycle is stopped; long-running tools must stop with it. */
  readonly signal: AbortSignal;
  /** Bound to `{ agent, cycle, step, tool }` by the registry. */
  readonly logger: Logger;
}

/**
 * One tool: a name the model calls it by, a description for the prompt, a zod schema its
 * arguments must pass before `run` is called, and whether it changes anything outside the agent's
 * head (`sideEffect`: such calls are never repeated when a cycle resumes after a crash).
 */
export interface AgentTool<Args = unknown> {
  readonly name: string;
  readonly description: string;
  readonly argsSchema: ZodType<Args>;
  readonly sideEffect: boolean;
  /** When true the agent must have an approved plan before the call runs. @default false */
  readonly needsApproval?: boolean;
  run(args: Args, context: ToolContext): Promise<ToolResult>;
}

/**
 * Identity function that lets TypeScript infer `Args` from the schema, so `run` is typed by it.
 * A tool list mixes argument types; `AnyAgentTool` is that list's element type.
 */
export function defineTool<Args>(tool: AgentTool<Args>): AgentTool<Args> {
  return tool;
}

// biome-ignore lint/suspicious/noExplicitAny: a heterogeneous tool list; each tool's run is typed by its own schema.
export type AnyAgentTool = AgentTool<any>;
