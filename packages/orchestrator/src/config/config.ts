import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { ClawError, describeValue, identityNameSchema, integerInRange } from '@clawfleet/protocol';
import { z } from 'zod';
import { modelIdSchema, modelSpecSchema } from '../inference/model-spec-schema.ts';
import { DEFAULT_MAX_QUEUED_PER_AGENT } from '../inference/slot-pool/slot-pool-options.ts';
import { defaultInferenceThreads } from '../inference/worker/worker-backend.ts';
import { processEntry } from '../process-entries.ts';

/** The five agents of a default fleet. */
export const DEFAULT_AGENTS = ['LeadClaw', 'DevClaw', 'UXClaw', 'OpsClaw', 'ScribeClaw'] as const;

/** How long a stop waits for in-flight requests by default. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;

/**
 * The agent entry point the process runtime starts, one process per agent: the agent-runtime
 * package's `agent-main.ts`, or `agent.js` beside the orchestrator's bundle (`npm run build`).
 */
export const DEFAULT_AGENT_ENTRY: string = processEntry('../../agent-runtime/src/agent-main.ts', 'agent.js');

/**
 * Context (tokens per slot) of the default model. The agents' act prompts may use up to 8,000
 * characters besides their identity, and the generated model's byte-level tokenizer makes that
 * about as many tokens: at 2048 an act step of a longer cycle did not fit and failed.
 */
export const DEFAULT_CONTEXT_SIZE = 8192;

/** Days of prompts kept by default for replay (`promptRetention`). */
export const DEFAULT_PROMPT_RETENTION_DAYS = 30;
/** The longest retention in days that is not `forever` (a century; the reducer takes seconds as u32). */
const MAX_PROMPT_RETENTION_DAYS = 36_500;

/**
 * How long the texts of recorded inference calls are kept: a number of days since a text's last
 * use, `forever`, or `hash-only` (nothing but hashes; such calls cannot be replayed).
 */
export type PromptRetention = number | 'forever' | 'hash-only';
/** The agent image of the docker runtime (containers/Dockerfile, target `agent`). */
export const DEFAULT_AGENT_IMAGE = 'clawfleet/agent';
/** Memory limit of an agent container; the agents' RSS target is 80 MB, this leaves room for tools. */
export const DEFAULT_AGENT_MEMORY_MB = 512;
export const DEFAULT_AGENT_PIDS = 256;

/**
 * Stall detection (docs/agents.md#supervision). An agent heartbeats every 10 s from a timer on its
 * event loop; its model calls run in the orchestrator, so a long generation does not stop it. Six
 * missed heartbeats (60 s), or 30 s disconnected after the IPC server dropped it (itself after 15 s
 * of missed pings), take a loop blocked for most of a minute: no healthy agent does that.
 */
export const DEFAULT_AGENT_STALL: Readonly<AgentStallConfig> = Object.freeze({
  heartbeatSeconds: 10,
  missedHeartbeats: 6,
  offlineSeconds: 30,
  startGraceSeconds: 60,
});

/** When the supervisor restarts an agent that is up but stalled. */
export interface AgentStallConfig {
  /** Seconds between an agent's heartbeats (passed to it as CLAW_AGENT_HEARTBEAT_SECONDS). @default 10 */
  readonly heartbeatSeconds: number;
  /** Heartbeats missed in a row before a restart. @default 6 */
  readonly missedHeartbeats: number;
  /** Seconds disconnected (dropped as unresponsive, not reconnected) before a restart. @default 30 */
  readonly offlineSeconds: number;
  /** Seconds after a launch during which no stall is judged. @default 60 */
  readonly startGraceSeconds: number;
}

/**
 * Names one orchestrator's containers on a shared engine: the data directory's name and a hash of
 * its path, so two checkouts never adopt each other's agents and one keeps its name across restarts.
 */
export function defaultStack(dataDirectory: string): string {
  const name = (dataDirectory.split('/').filter(Boolean).at(-2) ?? 'clawfleet')
    .toLowerCase()
    .replace(/[^a-z0-9_.-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 24);
  const hash = createHash('sha256').update(dataDirectory).digest('hex').slice(0, 8);
  return name === '' ? hash : `${name}-${hash}`;
}

/** Where the HTTP API and dashboard listen unless configured (docs/http-api.md). */
export const DEFAULT_HTTP_HOST = '127.0.0.1';
export const DEFAULT_HTTP_PORT = 8470;

/** A model path of this value means: the tiny model the project generates. */
export const GENERATED_MODEL = 'generated';

const samplingSchema = z.strictObject({
  temperature: z.number().min(0).max(2).optional(),
  topP: z.number().min(0).max(1).optional(),
  seed: z.number().int().min(0).max(0xffff_ffff).optional(),
  maxTokens: z.number().int().min(1).max(1_048_576),
});

/** A model entry: `path` may be `generated` for the project's tiny model. */
const modelSchema = modelSpecSchema.extend({
  /** Load the model on its first request instead of at start. @default false */
  lazy: z
    .boolean({ error: (issue) => `Expected \`lazy\` to be true or false, got ${describeValue(issue.input)}` })
    .optional(),
});

const agentSchema = z.strictObject({
  /** What the agent is for, recorded in the database's agent table. */
  role: z.string().min(1).max(200).optional(),
  modelId: modelIdSchema,
  sampling: samplingSchema,
});

/** Roles of the default fleet. */
export const DEFAULT_ROLES: Readonly<Record<string, string>> = {
  LeadClaw: 'coordination',
  DevClaw: 'code',
  UXClaw: 'review',
  OpsClaw: 'system health',
  ScribeClaw: 'docs and memory curation',
};

function httpPortMessage(input: unknown): string {
  return `Expected \`httpPort\` to be an integer 0-65535 or \`off\`, got ${describeValue(input)}`;
}
const httpPortNumber = z
  .number({ error: (issue) => httpPortMessage(issue.input) })
  .int({ error: (issue) => httpPortMessage(issue.input) })
  .min(0, { error: (issue) => httpPortMessage(issue.input) })
  .max(65_535, { error: (issue) => httpPortMessage(issue.input) });

/** The config file's shape: every key optional; environment variables override it. */
const fileSchema = z.strictObject({
  dataDirectory: z.string().min(1).optional(),
  socketPath: z.string().min(1).optional(),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error']).optional(),
  logFormat: z.enum(['json', 'pretty']).optional(),
  /** `cpu` and `false` both mean: never use a GPU. */
  gpu: z
    .union([z.enum(['auto', 'cuda', 'cpu']), z.literal(false)], {
      error: (issue) =>
        `Expected \`gpu\` to be \`auto\`, \`cuda\`, \`cpu\` or false, got ${describeValue(issue.input)}`,
    })
    .optional(),
  threads: integerInRange('threads', 1, 1024).optional(),
  memoryBudgetBytes: integerInRange('memoryBudgetBytes', 1, Number.MAX_SAFE_INTEGER).optional(),
  drainTimeoutMs: integerInRange('drainTimeoutMs', 0, 3_600_000).optional(),
  /** One agent's queued inference requests at most (the slot pool's `maxQueuedPerAgent`). */
  maxQueuedPerAgent: integerInRange('maxQueuedPerAgent', 1, 1_000_000).optional(),
  /** Whether the orchestrator starts and supervises the configured agents' processes. */
  startAgents: z
    .boolean({ error: (issue) => `Expected \`startAgents\` to be true or false, got ${describeValue(issue.input)}` })
    .optional(),
  /** The shared workspace; each agent's own workspace is `agents/<name>` inside it. */
  workspaceDirectory: z.string().min(1).optional(),
  /** Where each agent's token is written as `<agent>/token`, for agents started outside (compose). */
  agentTokensDirectory: z.string().min(1).optional(),
  /** How agents run: child processes, or Docker containers from `agentImage`. */
  runtime: z
    .enum(['process', 'docker'], {
      error: (issue) => `Expected \`runtime\` to be \`process\` or \`docker\`, got ${describeValue(issue.input)}`,
    })
    .optional(),
  /** The agent image (docker runtime). */
  agentImage: z
    .string()
    .regex(
      /^[a-z0-9][a-z0-9._/:@-]{0,254}$/,
      'Expected `agentImage` to be an image name such as clawfleet/agent:latest',
    )
    .optional(),
  /** Memory limit of each agent container, unless its agent.json sets one. */
  agentMemoryMb: integerInRange('agentMemoryMb', 16, 1_048_576).optional(),
  /** Process/thread limit of each agent container, unless its agent.json sets one. */
  agentPids: integerInRange('agentPids', 8, 1_000_000).optional(),
  /** Seconds between an agent's heartbeats (`agent.last_heartbeat_at`). */
  agentHeartbeatSeconds: integerInRange('agentHeartbeatSeconds', 1, 300).optional(),
  /** Heartbeats an agent may miss before the supervisor restarts it as stalled. */
  agentStallHeartbeats: integerInRange('agentStallHeartbeats', 2, 1000).optional(),
  /** Seconds an agent's connection may stay gone (dropped as unresponsive) before it is restarted as stalled. */
  agentOfflineSeconds: integerInRange('agentOfflineSeconds', 1, 3_600).optional(),
  /** Seconds after an agent's launch during which no stall is judged (its start-up). */
  agentStartGraceSeconds: integerInRange('agentStartGraceSeconds', 0, 3_600).optional(),
  /** `uid:gid` agent containers run as; never root. */
  agentUser: z
    .string()
    .regex(/^\d{1,10}:\d{1,10}$/, 'Expected `agentUser` to be numeric `uid:gid`')
    .refine((user) => !user.startsWith('0:'), 'Agent containers never run as root (uid 0)')
    .optional(),
  /** Names this orchestrator's containers and volumes on the engine. */
  stack: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_.-]{0,39}$/, 'Expected `stack` to be 1-40 lowercase letters, digits, `.`, `_` or `-`')
    .optional(),
  /** The Docker engine: `unix:///var/run/docker.sock` (the default) or another local socket. */
  dockerHost: z
    .string()
    .regex(/^(unix:\/\/)?\//, 'Expected `dockerHost` to be a Unix socket (unix:///path)')
    .optional(),
  models: z.array(modelSchema).min(1).optional(),
  agents: z.record(identityNameSchema, agentSchema).optional(),
  /** How long the prompts of recorded inference calls are kept: days, `forever`, or `hash-only`. */
  promptRetention: z
    .union([z.enum(['hash-only', 'forever']), integerInRange('promptRetention', 1, MAX_PROMPT_RETENTION_DAYS)], {
      error: (issue) =>
        `Expected \`promptRetention\` to be a number of days 1-${MAX_PROMPT_RETENTION_DAYS}, \`forever\` or \`hash-only\`, got ${describeValue(issue.input)}`,
    })
    .optional(),
  /** Address the HTTP API binds; anything but loopback exposes it to the network (token still required). */
  httpHost: z
    .string({
      error: (issue) => `Expected \`httpHost\` to be an address such as 127.0.0.1, got ${describeValue(issue.input)}`,
    })
    .min(1, { error: () => 'Expected `httpHost` to be an address such as 127.0.0.1, got an empty string' })
    .optional(),
  /** Port of the HTTP API; 0 picks a free port, `off` serves no HTTP at all. */
  httpPort: z.union([z.literal('off'), httpPortNumber], { error: (issue) => httpPortMessage(issue.input) }).optional(),
});

export type ModelConfig = z.infer<typeof modelSchema>;

/** The docker runtime's settings (used when `runtime` is `docker`). */
export interface DockerRuntimeConfig {
  readonly image: string;
  /** Memory limit of an agent container whose agent.json sets none. */
  readonly memoryBytes: number;
  readonly pids: number;
  /** `uid:gid`, or undefined: the orchestrator's own user, or 10001:10001 when it runs as root. */
  readonly user: string | undefined;
  /** Container and volume names: `clawfleet-<stack>-<agent>`. @default derived from the data directory */
  readonly stack: string;
  /** The engine's Unix socket. */
  readonly host: string;
}
export type AgentConfig = z.infer<typeof agentSchema>;

export interface OrchestratorConfig {
  /** Where the database, tokens, socket and generated models live. */
  readonly dataDirectory: string;
  readonly socketPath: string;
  readonly databasePath: string;
  readonly tokensPath: string;
  readonly generatedModelsDirectory: string;
  readonly logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error';
  readonly logFormat: 'json' | 'pretty';
  readonly gpu: 'auto' | 'cuda' | false;
  readonly threads: number;
  readonly memoryBudgetBytes: number | undefined;
  /** How long a stop waits for in-flight requests before cutting them with SHUTTING_DOWN. */
  readonly drainTimeoutMs: number;
  /** One agent's queued inference requests at most; more are refused with QUEUE_FULL. */
  readonly maxQueuedPerAgent: number;
  readonly models: readonly Readonly<ModelConfig>[];
  readonly agents: Readonly<Record<string, Readonly<AgentConfig>>>;
  /** Start and supervise one process per configured agent once the bus and models are ready. */
  readonly startAgents: boolean;
  /** The shared workspace every agent reads; each agent writes only in `agents/<name>` inside it. */
  readonly workspaceDirectory: string;
  /**
   * When set, each configured agent's token is written to `<agentTokensDirectory>/<agent>/token` at
   * start, for agents this orchestrator does not start (compose services; docs/containers.md).
   */
  readonly agentTokensDirectory: string | undefined;
  /** How agents run: `process` (children of the orchestrator) or `docker` (containers). */
  readonly runtime: 'process' | 'docker';
  readonly docker: Readonly<DockerRuntimeConfig>;
  /** When a running agent counts as stalled and is restarted (both runtimes). */
  readonly agentStall: AgentStallConfig;
  /** The script each agent process runs. */
  readonly agentEntry: string;
  /** PATH given to agent processes (their only inherited variable; commands are looked up on it). */
  readonly agentSearchPath: string;
  /** How long prompts of recorded inference calls are kept for replay (docs/provenance.md). */
  readonly promptRetention: PromptRetention;
  /** Where the config file came from, if one was read. */
  readonly configFile: string | undefined;
  /** Address the HTTP API (and dashboard) binds. */
  readonly httpHost: string;
  /** Its port: 0 picks a free one; `off` starts no HTTP server. */
  readonly httpPort: number | 'off';
  /**
   * Whether the port was configured. The default port may be taken (a second orchestrator on this
   * machine): then a free port is used and logged; a configured port that is taken fails the start.
   */
  readonly httpPortConfigured: boolean;
}

/** An environment variable and the config-file option it overrides. */
interface EnvironmentOption {
  variable: string;
  option: string;
  parse: (raw: string) => unknown;
}

/**
 * Anything that reads as a number becomes one, so the schema's message speaks of the number
 * (`-5` is below 1, `1.5` is not an integer) rather than calling it a string.
 */
const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;
const integer = (raw: string): unknown => (NUMBER.test(raw.trim()) ? Number(raw.trim()) : raw);
const text = (raw: string): unknown => raw;
const boolean = (raw: string): unknown => {
  const value = raw.trim().toLowerCase();
  if (['true', '1', 'yes'].includes(value)) return true;
  if (['false', '0', 'no'].includes(value)) return false;
  return raw;
};

const ENVIRONMENT: EnvironmentOption[] = [
  { variable: 'CLAW_DATA_DIR', option: 'dataDirectory', parse: text },
  { variable: 'CLAW_SOCKET', option: 'socketPath', parse: text },
  { variable: 'CLAW_LOG_LEVEL', option: 'logLevel', parse: text },
  { variable: 'CLAW_LOG_FORMAT', option: 'logFormat', parse: text },
  { variable: 'CLAW_GPU', option: 'gpu', parse: (raw) => (raw === 'false' ? false : raw) },
  { variable: 'CLAW_THREADS', option: 'threads', parse: integer },
  {
    variable: 'CLAW_MEMORY_BUDGET_MB',
    option: 'memoryBudgetBytes',
    parse: (raw) => {
      const megabytes = integer(raw);
      return typeof megabytes === 'number' ? Math.round(megabytes * 1024 * 1024) : megabytes;
    },
  },
  { variable: 'CLAW_DRAIN_TIMEOUT_MS', option: 'drainTimeoutMs', parse: integer },
  { variable: 'CLAW_MAX_QUEUED_PER_AGENT', option: 'maxQueuedPerAgent', parse: integer },
  { variable: 'CLAW_START_AGENTS', option: 'startAgents', parse: boolean },
  { variable: 'CLAW_WORKSPACE_DIR', option: 'workspaceDirectory', parse: text },
  { variable: 'CLAW_PROMPT_RETENTION', option: 'promptRetention', parse: integer },
  { variable: 'CLAW_AGENT_TOKENS_DIR', option: 'agentTokensDirectory', parse: text },
  { variable: 'CLAW_HTTP_HOST', option: 'httpHost', parse: text },
  {
    variable: 'CLAW_HTTP_PORT',
    option: 'httpPort',
    parse: (raw) => (raw.trim().toLowerCase() === 'off' ? 'off' : integer(raw)),
  },
  { variable: 'CLAW_RUNTIME', option: 'runtime', parse: text },
  { variable: 'CLAW_AGENT_IMAGE', option: 'agentImage', parse: text },
  { variable: 'CLAW_AGENT_MEMORY_MB', option: 'agentMemoryMb', parse: integer },
  { variable: 'CLAW_AGENT_PIDS', option: 'agentPids', parse: integer },
  { variable: 'CLAW_AGENT_HEARTBEAT_SECONDS', option: 'agentHeartbeatSeconds', parse: integer },
  { variable: 'CLAW_AGENT_STALL_HEARTBEATS', option: 'agentStallHeartbeats', parse: integer },
  { variable: 'CLAW_AGENT_OFFLINE_SECONDS', option: 'agentOfflineSeconds', parse: integer },
  { variable: 'CLAW_AGENT_START_GRACE_SECONDS', option: 'agentStartGraceSeconds', parse: integer },
  { variable: 'CLAW_AGENT_USER', option: 'agentUser', parse: text },
  { variable: 'CLAW_STACK', option: 'stack', parse: text },
  { variable: 'DOCKER_HOST', option: 'dockerHost', parse: text },
];

/** Overrides of the default model (`models[0]`). */
const MODEL_ENVIRONMENT: EnvironmentOption[] = [
  { variable: 'CLAW_MODEL_PATH', option: 'path', parse: text },
  { variable: 'CLAW_CONTEXT_SIZE', option: 'contextSize', parse: integer },
  { variable: 'CLAW_SLOTS', option: 'slots', parse: integer },
  { variable: 'CLAW_GPU_LAYERS', option: 'gpuLayers', parse: (raw) => (raw === 'auto' ? raw : integer(raw)) },
];

function defaultAgents(modelId: string): Record<string, AgentConfig> {
  const sampling = { temperature: 0.7, topP: 0.9, maxTokens: 512 };
  return Object.fromEntries(DEFAULT_AGENTS.map((name) => [name, { role: DEFAULT_ROLES[name], modelId, sampling }]));
}

/**
 * Reads the orchestrator's configuration once: defaults, then the config file (`CLAW_CONFIG`, or
 * `clawfleet.config.json` in the working folder when present), then environment variables. The
 * result is validated and frozen. Errors are ClawError CONFIG_INVALID naming the option and the
 * environment variable that sets it.
 */
export function loadConfig(
  environment: NodeJS.ProcessEnv = process.env,
  workingDirectory = process.cwd(),
): OrchestratorConfig {
  const explicitFile = environment.CLAW_CONFIG;
  const configFile = explicitFile
    ? resolve(workingDirectory, explicitFile)
    : existing(join(workingDirectory, 'clawfleet.config.json'));
  const fromFile = configFile ? readConfigFile(configFile, explicitFile !== undefined) : {};

  const merged: Record<string, unknown> = { ...fromFile };
  for (const entry of ENVIRONMENT) {
    const raw = environment[entry.variable];
    if (raw !== undefined && raw !== '') merged[entry.option] = entry.parse(raw);
  }
  const parsed = fileSchema.safeParse(merged);
  if (!parsed.success) throw configError(parsed.error.issues[0], configFile, ENVIRONMENT);
  const options = parsed.data;

  const models: ModelConfig[] = (
    options.models ?? [
      { id: 'default', path: GENERATED_MODEL, contextSize: DEFAULT_CONTEXT_SIZE, slots: 4, gpuLayers: 'auto' },
    ]
  ).map((model) => ({ ...model }));
  const first: Record<string, unknown> = { ...models[0] };
  for (const entry of MODEL_ENVIRONMENT) {
    const raw = environment[entry.variable];
    if (raw !== undefined && raw !== '') first[entry.option] = entry.parse(raw);
  }
  const firstParsed = modelSchema.safeParse(first);
  if (!firstParsed.success) {
    const issue = firstParsed.error.issues[0];
    throw configError(issue && { ...issue, path: ['models', 0, ...issue.path] }, configFile, MODEL_ENVIRONMENT);
  }
  models[0] = firstParsed.data;

  const modelIds = new Set<string>();
  for (const model of models) {
    if (modelIds.has(model.id)) {
      throw new ClawError('CONFIG_INVALID', `Model id \`${model.id}\` appears twice in \`models\``, {
        details: { option: 'models' },
      });
    }
    modelIds.add(model.id);
  }
  const agents = options.agents ?? defaultAgents(models[0]!.id);
  for (const [name, agent] of Object.entries(agents)) {
    if (!modelIds.has(agent.modelId)) {
      throw new ClawError(
        'CONFIG_INVALID',
        `Agent \`${name}\` uses model \`${agent.modelId}\`, which \`models\` does not define (defined: ${[...modelIds].join(', ')})`,
        { details: { option: `agents.${name}.modelId` } },
      );
    }
  }

  const dataDirectory = resolve(workingDirectory, options.dataDirectory ?? '.data');
  const absolute = (path: string): string => (isAbsolute(path) ? path : resolve(workingDirectory, path));
  const config: OrchestratorConfig = {
    dataDirectory,
    // A folder holding the socket alone: the docker runtime mounts it into every agent container.
    socketPath: absolute(options.socketPath ?? join(dataDirectory, 'run', 'orchestrator.sock')),
    databasePath: join(dataDirectory, 'bus.sqlite'),
    tokensPath: join(dataDirectory, 'tokens.json'),
    generatedModelsDirectory: join(dataDirectory, 'models'),
    logLevel: options.logLevel ?? 'info',
    logFormat: options.logFormat ?? (process.stdout.isTTY ? 'pretty' : 'json'),
    gpu: options.gpu === 'cpu' ? false : (options.gpu ?? 'auto'),
    threads: options.threads ?? defaultInferenceThreads(),
    memoryBudgetBytes: options.memoryBudgetBytes,
    drainTimeoutMs: options.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS,
    maxQueuedPerAgent: options.maxQueuedPerAgent ?? DEFAULT_MAX_QUEUED_PER_AGENT,
    models: models.map((model) =>
      Object.freeze({ ...model, path: model.path === GENERATED_MODEL ? model.path : absolute(model.path) }),
    ),
    agents: Object.freeze(
      Object.fromEntries(
        Object.entries(agents).map(([name, agent]) => [
          name,
          Object.freeze({ ...agent, sampling: Object.freeze(agent.sampling) }),
        ]),
      ),
    ),
    startAgents: options.startAgents ?? true,
    workspaceDirectory: absolute(options.workspaceDirectory ?? join(dataDirectory, 'workspace')),
    agentTokensDirectory:
      options.agentTokensDirectory === undefined ? undefined : absolute(options.agentTokensDirectory),
    runtime: options.runtime ?? 'process',
    docker: Object.freeze({
      image: options.agentImage ?? DEFAULT_AGENT_IMAGE,
      memoryBytes: (options.agentMemoryMb ?? DEFAULT_AGENT_MEMORY_MB) * 1024 * 1024,
      pids: options.agentPids ?? DEFAULT_AGENT_PIDS,
      user: options.agentUser,
      stack: options.stack ?? defaultStack(dataDirectory),
      host: options.dockerHost ?? 'unix:///var/run/docker.sock',
    }),
    agentStall: Object.freeze({
      heartbeatSeconds: options.agentHeartbeatSeconds ?? DEFAULT_AGENT_STALL.heartbeatSeconds,
      missedHeartbeats: options.agentStallHeartbeats ?? DEFAULT_AGENT_STALL.missedHeartbeats,
      offlineSeconds: options.agentOfflineSeconds ?? DEFAULT_AGENT_STALL.offlineSeconds,
      startGraceSeconds: options.agentStartGraceSeconds ?? DEFAULT_AGENT_STALL.startGraceSeconds,
    }),
    agentEntry: DEFAULT_AGENT_ENTRY,
    agentSearchPath: environment.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    promptRetention: options.promptRetention ?? DEFAULT_PROMPT_RETENTION_DAYS,
    configFile,
    httpHost: options.httpHost ?? DEFAULT_HTTP_HOST,
    httpPort: options.httpPort ?? DEFAULT_HTTP_PORT,
    httpPortConfigured: options.httpPort !== undefined,
  };
  return Object.freeze(config);
}

function existing(path: string): string | undefined {
  try {
    readFileSync(path);
    return path;
  } catch {
    return undefined;
  }
}

function readConfigFile(path: string, explicit: boolean): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ClawError(
      'CONFIG_INVALID',
      `Cannot read the config file ${path}${explicit ? ' (from CLAW_CONFIG)' : ''}: ${(error as Error).message}`,
      { details: { option: 'CLAW_CONFIG', path } },
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ClawError('CONFIG_INVALID', `The config file ${path} is not valid JSON: ${(error as Error).message}`, {
      details: { path },
    });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ClawError('CONFIG_INVALID', `The config file ${path} must hold a JSON object`, { details: { path } });
  }
  return value as Record<string, unknown>;
}

function configError(
  issue: z.core.$ZodIssue | undefined,
  configFile: string | undefined,
  environment: EnvironmentOption[],
): ClawError {
  const path = issue?.path ?? [];
  const option = path.map(String).join('.');
  const leaf = String(path.at(-1) ?? '');
  const variable = environment.find((entry) => entry.option === option || entry.option === leaf)?.variable;
  const sources = [variable && `env ${variable}`, configFile && `config file ${configFile}`]
    .filter(Boolean)
    .join(' or ');
  return new ClawError(
    'CONFIG_INVALID',
    `Invalid option \`${option || 'config'}\`${sources ? ` (set by ${sources})` : ''}: ${issue?.message ?? 'invalid'}`,
    { details: { option, ...(variable ? { environmentVariable: variable } : {}) } },
  );
}
