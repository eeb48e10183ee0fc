import { ClawError, describeValue, type JsonValue } from '@clawfleet/protocol';
import { z } from 'zod';
import type { AnyAgentTool, ToolContext, ToolResult } from './tool.ts';

/** Tool names as the model writes them: `area.verb`, lowercase, words within a part joined by `_`. */
const TOOL_NAME = /^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+$/;
/** The observation the model reads is cut here; the full output stays in `output`. */
export const MAX_OBSERVATION_CHARS = 4000;

/** A tool as a prompt or a decision grammar presents it. */
export interface ToolDescription {
  name: string;
  description: string;
  sideEffect: boolean;
  needsApproval: boolean;
  /** JSON schema of the arguments (draft 2020-12, from the zod schema). */
  parameters: Record<string, unknown>;
}

/**
 * Every tool the system has, by name. Agents never see it whole: `forAgent` gives each agent a
 * toolbox holding exactly its allowlist.
 */
export class ToolRegistry {
  readonly #tools = new Map<string, AnyAgentTool>();

  constructor(tools: readonly AnyAgentTool[]) {
    for (const tool of tools) {
      if (!TOOL_NAME.test(tool.name)) {
        throw new ClawError(
          'CONFIG_INVALID',
          `Tool name ${describeValue(tool.name)} is not \`area.verb\` in lowercase`,
        );
      }
      if (this.#tools.has(tool.name))
        throw new ClawError('CONFIG_INVALID', `Tool \`${tool.name}\` is registered twice`);
      this.#tools.set(tool.name, tool);
    }
  }

  get names(): string[] {
    return [...this.#tools.keys()].sort();
  }

  has(name: string): boolean {
    return this.#tools.has(name);
  }

  /**
   * The toolbox of one agent. An allowlist naming a tool that does not exist is a configuration
   * error (TOOL_UNKNOWN), found when the agent starts rather than when the model first calls it.
   */
  forAgent(agent: string, allowlist: readonly string[]): AgentToolbox {
    const unknown = allowlist.filter((name) => !this.#tools.has(name));
    if (unknown.length > 0) {
      throw new ClawError(
        'TOOL_UNKNOWN',
        `The allowlist of ${agent} names tools that do not exist: ${unknown.join(', ')} (known: ${this.names.join(', ')})`,
        { details: { agent, unknown } },
      );
    }
    const allowed = new Map<string, AnyAgentTool>();
    for (const name of allowlist) allowed.set(name, this.#tools.get(name) as AnyAgentTool);
    return new AgentToolbox(agent, allowed, this);
  }
}

/** One agent's tools: resolves, validates and runs calls, refusing anything off its allowlist. */
export class AgentToolbox {
  readonly agent: string;
  readonly #allowed: ReadonlyMap<string, AnyAgentTool>;
  readonly #registry: ToolRegistry;

  constructor(agent: string, allowed: ReadonlyMap<string, AnyAgentTool>, registry: ToolRegistry) {
    this.agent = agent;
    this.#allowed = allowed;
    this.#registry = registry;
  }

  get names(): string[] {
    return [...this.#allowed.keys()].sort();
  }

  has(name: string): boolean {
    return this.#allowed.has(name);
  }

  /** What the prompt and the act decision schema list, in name order. */
  describe(): ToolDescription[] {
    return this.names.map((name) => {
      const tool = this.#allowed.get(name) as AnyAgentTool;
      return {
        name,
        description: tool.description,
        sideEffect: tool.sideEffect,
        needsApproval: tool.needsApproval === true,
        parameters: z.toJSONSchema(tool.argsSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>,
      };
    });
  }

  /** The tool behind `name`: TOOL_NOT_ALLOWED when it exists but is not this agent's, TOOL_UNKNOWN when it does not. */
  get(name: string): AnyAgentTool {
    const tool = this.#allowed.get(name);
    if (tool !== undefined) return tool;
    if (this.#registry.has(name)) {
      throw new ClawError(
        'TOOL_NOT_ALLOWED',
        `${this.agent} may not use \`${name}\` (its tools: ${this.names.join(', ')})`,
        {
          details: { agent: this.agent, tool: name },
        },
      );
    }
    throw new ClawError(
      'TOOL_UNKNOWN',
      `There is no tool ${describeValue(name)} (${this.agent}'s tools: ${this.names.join(', ')})`,
      {
        details: { agent: this.agent, tool: String(name) },
      },
    );
  }

  /** Checks a call before anything runs: the tool is allowed and the arguments pass its schema. */
  prepare(name: string, rawArgs: unknown): { tool: AnyAgentTool; args: unknown } {
    const tool = this.get(name);
    const parsed = tool.argsSchema.safeParse(rawArgs);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const path = issue?.path.map(String).join('.') ?? '';
      const where = path.length > 0 ? ` at \`${path}\`` : '';
      throw new ClawError(
        'TOOL_ARGS_INVALID',
        `Invalid arguments for \`${name}\`${where}: ${issue?.message ?? 'invalid'}`,
        {
          details: { tool: name, path },
        },
      );
    }
    return { tool, args: parsed.data };
  }

  /**
   * Runs one call. Refusals and failures are ClawErrors (TOOL_NOT_ALLOWED, TOOL_UNKNOWN,
   * TOOL_ARGS_INVALID, SANDBOX_VIOLATION, COMMAND_*, or TOOL_FAILED for anything else a tool
   * throws) and are logged here, so a refused call is visible even when the caller swallows it.
   */
  async run(name: string, rawArgs: unknown, context: ToolContext): Promise<ToolResult> {
    const logger = context.logger.child({ tool: name });
    try {
      const { tool, args } = this.prepare(name, rawArgs);
      context.signal.throwIfAborted();
      const result = await tool.run(args, { ...context, logger });
      return { output: jsonSafe(result.output), text: shorten(result.text) };
    } catch (error) {
      const failure =
        context.signal.aborted && !(error instanceof ClawError)
          ? new ClawError('CANCELLED', `\`${name}\` was cancelled`, { cause: error })
          : ClawError.from(error, 'TOOL_FAILED');
      logger.warn({ err: failure, code: failure.code, details: failure.details }, 'tool call refused or failed');
      throw failure;
    }
  }
}

function shorten(text: string): string {
  if (text.length <= MAX_OBSERVATION_CHARS) return text;
  const omitted = text.length - MAX_OBSERVATION_CHARS;
  return `${text.slice(0, MAX_OBSERVATION_CHARS)}\n[... ${omitted} more characters]`;
}

/** A tool's output as it will be stored: JSON round-tripped, so what is recorded is what was returned. */
function jsonSafe(output: JsonValue): JsonValue {
  try {
    return JSON.parse(JSON.stringify(output ?? null)) as JsonValue;
  } catch (error) {
    throw new ClawError('TOOL_FAILED', 'The tool returned output that is not JSON-safe', { cause: error });
  }
}
