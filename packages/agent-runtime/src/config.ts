/**
 * The agent process's configuration: read once from the environment (the only place the agent
 * deployable reads `process.env`), validated, frozen. Nothing here assumes a parent process: the
 * same variables work for a child of the orchestrator and for a container.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ClawError, identityNameSchema } from '@clawfleet/protocol';
import { z } from 'zod';

export interface AgentProcessConfig {
  /** The agent this process is (`LeadClaw`). */
  readonly agentName: string;
  /** The token it authenticates with (never logged). */
  readonly token: string;
  /** The orchestrator's IPC socket. */
  readonly socketPath: string;
  /** The folder holding the agent folders (`packages/agents` by default). */
  readonly agentsDirectory: string | undefined;
  /** The agent's own workspace (files it may write). */
  readonly workspaceDirectory: string;
  /** The workspace every agent may read. */
  readonly sharedWorkspaceDirectory: string;
  readonly logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error';
  readonly logFormat: 'json' | 'pretty';
  /** Where `command.run` looks up the agent's commands (once, at start). */
  readonly searchPath: string;
  /** Seconds a task claim lasts without a heartbeat: how soon a killed agent's task returns to the queue. */
  readonly taskLeaseSeconds: number;
  /**
   * Tokens of context per slot of the model the agent's requests go to (the orchestrator sets it
   * from its model settings). Prompts are built to fit it minus each phase's max tokens; unset, only
   * the phases' `contextCharacters` bound them.
   */
  readonly contextTokens: number | undefined;
  /**
   * Seconds the agent keeps trying to reach a lost orchestrator before it exits (exit code 69): an
   * orchestrator restart fits in it, an orchestrator that died does not leave the agent behind.
   */
  readonly reconnectWindowSeconds: number;
  /**
   * A folder of the agent's own, outside every workspace (no tool reads or writes it), for what
   * should outlive the process: the memory's embedding cache. Unset, nothing is kept and every start
   * embeds all memories again.
   */
  readonly stateDirectory: string | undefined;
  /**
   * Seconds between the agent's heartbeats (`agent.last_heartbeat_at`); the orchestrator's supervisor
   * restarts an agent that misses several in a row (docs/agents.md#supervision). @default 10
   */
  readonly heartbeatSeconds: number;
}

/** Each option with its environment variable; an error names both. */
export const AGENT_ENVIRONMENT = {
  agentName: 'CLAW_AGENT_NAME',
  token: 'CLAW_AGENT_TOKEN',
  tokenFile: 'CLAW_AGENT_TOKEN_FILE',
  socketPath: 'CLAW_SOCKET',
  agentsDirectory: 'CLAW_AGENTS_DIR',
  workspaceDirectory: 'CLAW_AGENT_WORKSPACE',
  sharedWorkspaceDirectory: 'CLAW_SHARED_WORKSPACE',
  logLevel: 'CLAW_LOG_LEVEL',
  logFormat: 'CLAW_LOG_FORMAT',
  searchPath: 'PATH',
  taskLeaseSeconds: 'CLAW_TASK_LEASE_SECONDS',
  contextTokens: 'CLAW_AGENT_CONTEXT_TOKENS',
  reconnectWindowSeconds: 'CLAW_AGENT_RECONNECT_SECONDS',
  stateDirectory: 'CLAW_AGENT_STATE_DIR',
  heartbeatSeconds: 'CLAW_AGENT_HEARTBEAT_SECONDS',
} as const;

function invalid(option: keyof typeof AGENT_ENVIRONMENT, message: string): never {
  throw new ClawError('CONFIG_INVALID', `Invalid option \`${option}\` (env ${AGENT_ENVIRONMENT[option]}): ${message}`, {
    details: { option, env: AGENT_ENVIRONMENT[option] },
  });
}

function required(environment: NodeJS.ProcessEnv, option: keyof typeof AGENT_ENVIRONMENT): string {
  const value = environment[AGENT_ENVIRONMENT[option]];
  if (value === undefined || value.length === 0) invalid(option, 'required, not set');
  return value;
}

function optional(environment: NodeJS.ProcessEnv, option: keyof typeof AGENT_ENVIRONMENT): string | undefined {
  const value = environment[AGENT_ENVIRONMENT[option]];
  return value === undefined || value.length === 0 ? undefined : value;
}

const logLevelSchema = z.enum(['trace', 'debug', 'info', 'warn', 'error']);
const logFormatSchema = z.enum(['json', 'pretty']);

/**
 * Reads the agent process's configuration from `environment`. The token comes from
 * `CLAW_AGENT_TOKEN`, or from the file `CLAW_AGENT_TOKEN_FILE` names (a container secret).
 */
export function loadAgentProcessConfig(
  environment: NodeJS.ProcessEnv = process.env,
  options: { isTerminal?: boolean; cwd?: string } = {},
): AgentProcessConfig {
  const cwd = options.cwd ?? process.cwd();
  const agentName = required(environment, 'agentName');
  if (!identityNameSchema.safeParse(agentName).success) {
    invalid('agentName', `expected 1-64 letters, digits, _ or - starting with a letter, got \`${agentName}\``);
  }
  let token = optional(environment, 'token');
  const tokenFile = optional(environment, 'tokenFile');
  if (token === undefined && tokenFile !== undefined) {
    try {
      token = readFileSync(resolve(cwd, tokenFile), 'utf8').trim();
    } catch (error) {
      invalid('tokenFile', `cannot read ${tokenFile}: ${(error as Error).message}`);
    }
  }
  if (token === undefined || token.length === 0)
    invalid('token', `required, not set (or set ${AGENT_ENVIRONMENT.tokenFile})`);
  const socketPath = resolve(cwd, required(environment, 'socketPath'));
  const agentsDirectory = optional(environment, 'agentsDirectory');
  const workspace = optional(environment, 'workspaceDirectory') ?? `.data/workspaces/${agentName}`;
  const shared = optional(environment, 'sharedWorkspaceDirectory') ?? '.data/workspaces/shared';
  const logLevel = logLevelSchema.safeParse(optional(environment, 'logLevel') ?? 'info');
  if (!logLevel.success) invalid('logLevel', `expected one of ${logLevelSchema.options.join(', ')}`);
  const logFormat = logFormatSchema.safeParse(
    optional(environment, 'logFormat') ?? (options.isTerminal === true ? 'pretty' : 'json'),
  );
  if (!logFormat.success) invalid('logFormat', `expected one of ${logFormatSchema.options.join(', ')}`);
  const leaseText = optional(environment, 'taskLeaseSeconds') ?? '300';
  const taskLeaseSeconds = Number(leaseText);
  if (!/^\d+$/.test(leaseText) || taskLeaseSeconds < 2 || taskLeaseSeconds > 86_400) {
    invalid('taskLeaseSeconds', `expected an integer 2-86400, got \`${leaseText}\``);
  }
  const contextText = optional(environment, 'contextTokens');
  const contextTokens = contextText === undefined ? undefined : Number(contextText);
  if (
    contextText !== undefined &&
    (!/^\d+$/.test(contextText) || contextTokens! < 256 || contextTokens! > 10_000_000)
  ) {
    invalid('contextTokens', `expected an integer 256-10000000, got \`${contextText}\``);
  }
  const windowText = optional(environment, 'reconnectWindowSeconds') ?? '30';
  const reconnectWindowSeconds = Number(windowText);
  if (!/^\d+$/.test(windowText) || reconnectWindowSeconds < 1 || reconnectWindowSeconds > 86_400) {
    invalid('reconnectWindowSeconds', `expected an integer 1-86400, got \`${windowText}\``);
  }
  const heartbeatText = optional(environment, 'heartbeatSeconds') ?? '10';
  const heartbeatSeconds = Number(heartbeatText);
  if (!/^\d+$/.test(heartbeatText) || heartbeatSeconds < 1 || heartbeatSeconds > 300) {
    invalid('heartbeatSeconds', `expected an integer 1-300, got \`${heartbeatText}\``);
  }
  const stateDirectory = optional(environment, 'stateDirectory');
  return Object.freeze({
    agentName,
    token,
    socketPath,
    agentsDirectory: agentsDirectory === undefined ? undefined : resolve(cwd, agentsDirectory),
    workspaceDirectory: resolve(cwd, workspace),
    sharedWorkspaceDirectory: resolve(cwd, shared),
    logLevel: logLevel.data,
    logFormat: logFormat.data,
    searchPath: optional(environment, 'searchPath') ?? '/usr/local/bin:/usr/bin:/bin',
    taskLeaseSeconds,
    contextTokens,
    reconnectWindowSeconds,
    stateDirectory: stateDirectory === undefined ? undefined : resolve(cwd, stateDirectory),
    heartbeatSeconds,
  });
}
