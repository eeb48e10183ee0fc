import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { loadAgent } from '@clawfleet/agents';
import { dashboardAssetDirectory } from '@clawfleet/dashboard';
import { BusService, EmbeddedDatabase, identityForName } from '@clawfleet/embedded-bus';
import { HttpApiServer } from '@clawfleet/http-api';
import { IpcServer, prepareSocketPath, tokenAuthenticator } from '@clawfleet/ipc';
import { type BusRowChange, ClawError, type InferenceAccountingRecord, type Logger } from '@clawfleet/protocol';
import { ensureTinyModel } from '@clawfleet/tiny-model';
import { AdminService, grantDatabaseAdmin } from './admin-service/index.ts';
import {
  type AgentLaunchSpec,
  type AgentRuntime,
  type AgentSandboxRequest,
  AgentSupervisor,
  DockerAgentRuntime,
  describeExit,
  openDockerEngine,
  ProcessAgentRuntime,
  type RestartPolicy,
} from './agent-lifecycle/index.ts';
import { DEFAULT_ROLES, GENERATED_MODEL, type OrchestratorConfig } from './config/config.ts';
import { InProcessFleet } from './http/in-process-fleet.ts';
import type { InferenceBackend, ModelSpec } from './inference/backend.ts';
import { InferenceService } from './inference/service/index.ts';
import { SlotPool } from './inference/slot-pool/index.ts';
import { WorkerBackend } from './inference/worker/index.ts';
import { OrchestratorMetrics } from './metrics/orchestrator-metrics.ts';
import { nodeFlagsFor } from './process-entries.ts';
import { replayCycle } from './provenance/cycle-replay.ts';
import { InferenceRecorder } from './provenance/inference-recorder.ts';
import { provenanceOf } from './provenance/provenance-tree.ts';
import {
  DataDirectoryLock,
  EXIT_CODES,
  preflight,
  preparePrivateDataDirectory,
  preparePrivateFiles,
  StartupError,
} from './startup/index.ts';
import { loadOrCreateTokens, writeAgentTokenFiles } from './tokens/token-store.ts';

/** The admin identity: registers agents, writes inference accounting. */
export const ORCHESTRATOR_IDENTITY = 'orchestrator';
/** The identity the `claw` CLI connects as. */
export const CLI_IDENTITY = 'cli';
/** Generation cap of the CLI's inference requests. */
const CLI_MAX_TOKENS = 1024;

/** What a caller may swap in; `main.ts` passes nothing. */
export interface OrchestratorStartOptions {
  /**
   * How agents are run. @default by `config.runtime`: a ProcessAgentRuntime running
   * `config.agentEntry` (through tsx when it is TypeScript), or a DockerAgentRuntime from `config.docker`
   */
  agentRuntime?: AgentRuntime;
  /** @default DEFAULT_RESTART_POLICY */
  agentRestart?: Partial<RestartPolicy>;
  /** Where agents' output lines go. @default this process's stdout/stderr */
  onAgentOutput?: (agent: string, stream: 'stdout' | 'stderr', line: string) => void;
  /** Extra variables for every agent process (tests shorten the task lease). @default {} */
  agentEnvironment?: Readonly<Record<string, string>>;
  /** Wraps the real worker backend (tests force a branch with a scripted layer over the real model). */
  inferenceBackend?: (worker: InferenceBackend) => InferenceBackend;
}

/**
 * The orchestrator process's parts, started in dependency order and stopped in reverse: the
 * embedded bus (SQLite), the inference worker and slot pool, the IPC server that serves both, and
 * the agents it supervises (started last, once the bus and the models are ready; stopped first).
 */
export class Orchestrator {
  readonly config: OrchestratorConfig;
  readonly server: IpcServer;
  readonly database: EmbeddedDatabase;
  readonly backend: WorkerBackend;
  readonly pool: SlotPool;
  readonly inference: InferenceService;
  /** The supervised agents; undefined when `config.startAgents` is false. */
  readonly agents: AgentSupervisor | undefined;
  /** The HTTP API and dashboard; undefined when `config.httpPort` is `off`. */
  readonly http: HttpApiServer | undefined;
  readonly metrics: OrchestratorMetrics;
  readonly #busService: BusService;
  readonly #admin: AdminService;
  readonly #logger: Logger;
  readonly #lock: DataDirectoryLock;
  readonly #recorder: InferenceRecorder;
  #stopping: Promise<void> | undefined;

  private constructor(parts: {
    config: OrchestratorConfig;
    server: IpcServer;
    database: EmbeddedDatabase;
    backend: WorkerBackend;
    pool: SlotPool;
    inference: InferenceService;
    busService: BusService;
    admin: AdminService;
    agents: AgentSupervisor | undefined;
    http: HttpApiServer | undefined;
    metrics: OrchestratorMetrics;
    logger: Logger;
    lock: DataDirectoryLock;
    recorder: InferenceRecorder;
  }) {
    this.config = parts.config;
    this.server = parts.server;
    this.database = parts.database;
    this.backend = parts.backend;
    this.pool = parts.pool;
    this.inference = parts.inference;
    this.agents = parts.agents;
    this.http = parts.http;
    this.metrics = parts.metrics;
    this.#busService = parts.busService;
    this.#admin = parts.admin;
    this.#lock = parts.lock;
    this.#recorder = parts.recorder;
    this.#logger = parts.logger.child({ component: 'orchestrator' });
  }

  /**
   * Starts everything, or nothing: a part that fails to start (a missing model file, a socket in
   * use, a corrupt tokens file) stops the parts started before it and rejects with a ClawError.
   */
  static async start(
    config: OrchestratorConfig,
    logger: Logger,
    options: OrchestratorStartOptions = {},
  ): Promise<Orchestrator> {
    const startLog = logger.child({ component: 'orchestrator' });
    // Milliseconds of checks first; the database and the worker (seconds) only once they pass.
    preflight(config);
    // The engine and the image are checked before anything starts, so `claw up --runtime docker`
    // without them stops at once with the fix rather than after loading the models.
    const runtime = config.startAgents
      ? (options.agentRuntime ?? (await createAgentRuntime(config, options, logger)))
      : undefined;
    const directory = preparePrivateDataDirectory(config.dataDirectory);
    // Nothing in the data directory is touched before this lock: a second start stops here,
    // before it could open the live database or look at the live socket.
    const lock = DataDirectoryLock.acquire(config.dataDirectory);
    const cleanup: (() => Promise<void> | void)[] = [() => lock.release()];
    try {
      const files = preparePrivateFiles(config);
      for (const path of [...directory.narrowed, ...files.narrowed]) {
        startLog.warn({ path }, 'group or others could read this; narrowed it to the owner only');
      }
      await prepareSocketPath(config.socketPath);
      const agentNames = Object.keys(config.agents);
      const tokens = await loadOrCreateTokens(config.tokensPath, [ORCHESTRATOR_IDENTITY, CLI_IDENTITY, ...agentNames]);
      if (config.agentTokensDirectory !== undefined) {
        const written = await writeAgentTokenFiles(config.agentTokensDirectory, tokens, agentNames);
        startLog.info({ files: written }, "wrote the agents' token files for agents started outside (compose)");
      }
      const database = openDatabase(config, logger);
      cleanup.push(() => database.close());
      registerAgents(database, config);
      grantDatabaseAdmin(database, ORCHESTRATOR_IDENTITY, CLI_IDENTITY, identityForName(CLI_IDENTITY));

      const models = await resolveModels(config);
      const backend = await WorkerBackend.start({
        gpu: config.gpu,
        maxThreads: config.threads,
        logger,
      });
      cleanup.push(() => backend.dispose());
      // Every configured model is checked now, so a wrong path fails at start-up, naming the file.
      for (const model of models) await backend.estimateModelMemory(model);
      // Tests may put a scripted layer in front of the real worker (orchestrator/testing).
      const served = options.inferenceBackend?.(backend) ?? backend;
      const pool = await SlotPool.create({
        backend: served,
        models,
        ...(config.memoryBudgetBytes === undefined ? {} : { memoryBudgetBytes: config.memoryBudgetBytes }),
        maxQueuedPerAgent: config.maxQueuedPerAgent,
        onLoadProgress: loadProgressLogger(logger.child({ component: 'models' })),
        logger,
      });
      cleanup.push(() => pool.dispose());
      // Loaded now (unless `lazy`), so the first request is not the one that waits; the bus is
      // served meanwhile, and start() resolves once they are in.
      const preloading = Promise.all(
        config.models.filter((model) => model.lazy !== true).map((model) => pool.preload(model.id)),
      );
      preloading.catch(() => {});

      // Assigned once they start; the metrics read them at scrape time.
      let agents: AgentSupervisor | undefined;
      let http: HttpApiServer | undefined;
      const metrics = new OrchestratorMetrics({
        poolStatus: () => pool.status(),
        workerRestarts: () => backend.restarts,
        agentSupervisor: () => agents,
        eventClients: () => http?.events.clientCount ?? 0,
      });
      cleanup.push(metrics.observeDatabase(database));

      const host = hostname();
      // Every agent model call is recorded for replay (docs/provenance.md); prompts kept per retention.
      const recorder = new InferenceRecorder({
        database,
        adminName: ORCHESTRATOR_IDENTITY,
        retention: config.promptRetention,
        skip: [CLI_IDENTITY],
        logger,
      });
      recorder.startPruning();
      cleanup.push(() => recorder.dispose());
      const inference = new InferenceService({
        pool,
        settings: {
          agents: {
            // The CLI is a person at a terminal: the only identity that may ask with priority human.
            [CLI_IDENTITY]: { modelId: models[0]?.id as string, sampling: { maxTokens: CLI_MAX_TOKENS } },
            ...Object.fromEntries(
              Object.entries(config.agents).map(([name, agent]) => [
                name,
                { modelId: agent.modelId, sampling: { ...agent.sampling } },
              ]),
            ),
          },
          humans: [CLI_IDENTITY],
        },
        onAccounting: (record) => {
          metrics.inference(record);
          recordInference(database, host, record, logger.child({ component: 'accounting' }));
        },
        onGeneration: (call) => recorder.record(call),
        logger,
      });

      const server = new IpcServer({
        socketPath: config.socketPath,
        authenticate: tokenAuthenticator(tokens),
        logger,
        capabilities: ['bus', 'inference'],
      });
      const busService = new BusService({ database, server, identityForName, logger });
      cleanup.push(() => busService.dispose());
      inference.register(server);
      // `agents` is assigned once the agents start, after the socket listens; admin.* sees it from then on.
      const admin = new AdminService({
        server,
        config,
        adminNames: [ORCHESTRATOR_IDENTITY, CLI_IDENTITY],
        poolStatus: () => pool.status(),
        agentSupervisor: () => agents,
        provenance: {
          replay: (cycleId, caller, signal) =>
            replayCycle(cycleId, {
              database,
              adminName: ORCHESTRATOR_IDENTITY,
              inference,
              caller,
              retention: config.promptRetention,
              signal,
            }),
          why: (memoryId) => ({ root: provenanceOf(database, ORCHESTRATOR_IDENTITY, memoryId) }),
        },
        logger,
      });
      cleanup.push(() => admin.dispose());
      await server.listen();
      // A part that fails after this (the HTTP port, a model preload, the agents) must free the socket too.
      cleanup.push(() => server.close({ timeoutMs: 0 }));
      if (config.httpPort !== 'off') {
        const started = await startHttpApi(config, tokens, database, admin, metrics, logger);
        http = started;
        cleanup.push(() => started.close());
      }
      await preloading;
      agents =
        runtime === undefined ? undefined : await startAgents(config, tokens, database, runtime, options, logger);
      const supervisor = agents;
      if (supervisor !== undefined) cleanup.push(() => supervisor.stop({ graceMs: config.drainTimeoutMs }));
      return new Orchestrator({
        config,
        server,
        database,
        backend,
        pool,
        inference,
        busService,
        admin,
        agents,
        http,
        metrics,
        logger,
        lock,
        recorder,
      });
    } catch (error) {
      for (const step of cleanup.reverse()) {
        try {
          await step();
        } catch (cleanupError) {
          logger.warn({ err: cleanupError }, 'cleanup after a failed start failed');
        }
      }
      throw ClawError.from(error);
    }
  }

  /**
   * Stops accepting work, drains in-flight requests up to `timeoutMs` (default: the config's
   * `drainTimeoutMs`), answers the rest SHUTTING_DOWN, stops every part, then releases the data
   * directory.
   */
  stop(options: { timeoutMs?: number } = {}): Promise<void> {
    this.#stopping ??= (async () => {
      const timeoutMs = options.timeoutMs ?? this.config.drainTimeoutMs;
      this.#logger.info({ drainTimeoutMs: timeoutMs }, 'stopping');
      // From here a worker that dies is not restarted: the drain ends what it can, then everything stops.
      this.backend.beginShutdown();
      // Agents first, while the bus and inference still serve them, so a cycle can finish or
      // record where it stopped.
      await this.agents?.stop({ graceMs: timeoutMs });
      await this.http?.close();
      await this.server.close({ timeoutMs });
      this.#busService.dispose();
      this.#admin.dispose();
      await this.pool.dispose();
      this.#recorder.dispose();
      await this.backend.dispose();
      this.database.close();
      this.#lock.release();
      this.#logger.info({}, 'stopped');
    })();
    return this.#stopping;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** Tables whose changes the event stream leaves out: the per-caller views repeat their table's changes, schedules are timers. */
function isStreamedTable(table: string): boolean {
  return !table.startsWith('visible_') && !table.endsWith('_schedule') && table !== 'admin';
}

/**
 * Starts the HTTP API as the CLI's identity, with the CLI's token as the admin token. On the default
 * port, a port already taken (another orchestrator on this machine) falls back to a free one, logged;
 * a configured port that is taken fails the start (SOCKET_IN_USE).
 */
async function startHttpApi(
  config: OrchestratorConfig,
  tokens: Readonly<Record<string, string>>,
  database: EmbeddedDatabase,
  admin: AdminService,
  metrics: OrchestratorMetrics,
  logger: Logger,
): Promise<HttpApiServer> {
  const adminToken = tokens[CLI_IDENTITY];
  if (adminToken === undefined) throw new ClawError('INTERNAL', 'No token for the CLI identity');
  const create = (port: number): Promise<HttpApiServer> =>
    HttpApiServer.create({
      host: config.httpHost,
      port,
      adminToken,
      fleet: new InProcessFleet({ database, admin, identity: CLI_IDENTITY }),
      rowChanges: {
        onRowChanges: (listener) =>
          database.onCommit((changes) => {
            const streamed = changes.filter((change: BusRowChange) => isStreamedTable(change.table));
            if (streamed.length > 0) listener(streamed);
          }),
      },
      metrics,
      // The same tree as `claw why` (provenanceOf), as the person's admin service reads it.
      provenance: async (memoryId) => admin.why(memoryId),
      staticDirectory: dashboardAssetDirectory,
      onEventClientDropped: () => metrics.eventClientDropped(),
      logger,
    });
  const port = config.httpPort as number;
  const http = await create(port);
  try {
    await http.listen();
    return http;
  } catch (error) {
    await http.close();
    if (!(error instanceof ClawError) || error.code !== 'SOCKET_IN_USE' || config.httpPortConfigured || port === 0) {
      throw error;
    }
    logger
      .child({ component: 'http' })
      .warn({ port }, 'the default HTTP port is in use (another orchestrator?); listening on a free port instead');
    const fallback = await create(0);
    await fallback.listen();
    return fallback;
  }
}

/**
 * Starts one supervised agent per configured agent. Each gets its name, token, the socket and its
 * workspaces through the environment, and nothing else of this process's environment but PATH.
 * An agent given up on gets an attention request raised about it.
 */
async function startAgents(
  config: OrchestratorConfig,
  tokens: Readonly<Record<string, string>>,
  database: EmbeddedDatabase,
  runtime: AgentRuntime,
  options: OrchestratorStartOptions,
  logger: Logger,
): Promise<AgentSupervisor> {
  const specs: AgentLaunchSpec[] = [];
  for (const agent of Object.keys(config.agents)) {
    const workspace = join(config.workspaceDirectory, 'agents', agent);
    await mkdir(workspace, { recursive: true });
    const token = tokens[agent];
    if (token === undefined) throw new ClawError('INTERNAL', `No token for agent ${agent}`);
    // The agent builds its prompts to fit the context of the model its requests go to.
    const contextSize = config.models.find((model) => model.id === config.agents[agent]?.modelId)?.contextSize;
    specs.push({
      agent,
      sandbox: sandboxOf(agent),
      environment: {
        PATH: config.agentSearchPath,
        CLAW_AGENT_NAME: agent,
        CLAW_AGENT_TOKEN: token,
        CLAW_SOCKET: config.socketPath,
        CLAW_AGENT_WORKSPACE: workspace,
        // Outside the shared workspace: another agent's tools must not read this agent's vectors.
        CLAW_AGENT_STATE_DIR: join(config.dataDirectory, 'agent-state', agent),
        CLAW_SHARED_WORKSPACE: config.workspaceDirectory,
        CLAW_LOG_LEVEL: config.logLevel,
        CLAW_LOG_FORMAT: 'json',
        CLAW_AGENT_HEARTBEAT_SECONDS: String(config.agentStall.heartbeatSeconds),
        ...(contextSize === undefined ? {} : { CLAW_AGENT_CONTEXT_TOKENS: String(contextSize) }),
        ...options.agentEnvironment,
      },
    });
  }
  // Refused here, before any agent starts, rather than at each launch.
  if (runtime instanceof DockerAgentRuntime) runtime.prepareSocketDirectory(dirname(config.socketPath));
  const supervisor = new AgentSupervisor({
    runtime,
    agents: specs,
    ...(options.agentRestart === undefined ? {} : { restart: options.agentRestart }),
    // A running agent that stops heartbeating, or stays disconnected, is restarted as stalled.
    liveness: (agent) => {
      const [row] = database.query(ORCHESTRATOR_IDENTITY, 'agent', { name: agent });
      if (row === undefined) return undefined;
      const heartbeatMicros = row.last_heartbeat_at;
      const heartbeatMs =
        typeof heartbeatMicros === 'bigint'
          ? Number(heartbeatMicros / 1000n)
          : typeof heartbeatMicros === 'number'
            ? heartbeatMicros / 1000
            : undefined;
      return {
        online: row.online === true,
        heartbeatAgeMs: heartbeatMs === undefined ? undefined : Date.now() - heartbeatMs,
      };
    },
    stall: {
      heartbeatTimeoutMs: config.agentStall.heartbeatSeconds * config.agentStall.missedHeartbeats * 1000,
      offlineTimeoutMs: config.agentStall.offlineSeconds * 1000,
      startupGraceMs: config.agentStall.startGraceSeconds * 1000,
      checkIntervalMs: Math.max(250, Math.min(5_000, (config.agentStall.heartbeatSeconds * 1000) / 2)),
      stopGraceMs: config.drainTimeoutMs,
    },
    onGiveUp: (report) => {
      const stalled = report.lastReason.startsWith('stalled');
      database.callReducer(ORCHESTRATOR_IDENTITY, 'raise_agent_attention', {
        agent: report.agent,
        text: `${report.agent} ${stalled ? 'stalled or crashed' : 'crashed'} ${report.crashes} times within ${Math.round(report.windowMs / 1000)} s (last: ${stalled ? report.lastReason : describeExit(report.lastExit)}) and is no longer restarted. Check its log, then restart the orchestrator.`,
        priority: 8,
        default_action: 'leave the agent stopped',
        expires_in_seconds: 7 * 24 * 3_600,
      });
    },
    logger,
  });
  await supervisor.start();
  return supervisor;
}

/**
 * The runtime `config.runtime` names. The docker one is checked here (engine answers, agent image
 * present); either failure stops the start with exit 69 and its fix.
 */
async function createAgentRuntime(
  config: OrchestratorConfig,
  options: OrchestratorStartOptions,
  logger: Logger,
): Promise<AgentRuntime> {
  const onOutput = options.onAgentOutput === undefined ? {} : { onOutput: options.onAgentOutput };
  if (config.runtime === 'process') {
    return new ProcessAgentRuntime({
      entry: config.agentEntry,
      execArgv: nodeFlagsFor(config.agentEntry),
      cwd: process.cwd(),
      // An agent left running by a killed orchestrator is found here and stopped before its restart.
      pidDirectory: join(config.dataDirectory, 'agents'),
      ...onOutput,
      logger,
    });
  }
  const runtime = new DockerAgentRuntime({
    docker: openDockerEngine(config.docker.host),
    image: config.docker.image,
    stack: config.docker.stack,
    agents: Object.keys(config.agents),
    memoryBytes: config.docker.memoryBytes,
    pids: config.docker.pids,
    ...(config.docker.user === undefined ? {} : { user: config.docker.user }),
    ...onOutput,
    logger,
  });
  try {
    const checked = await runtime.check();
    logger
      .child({ component: 'orchestrator' })
      .info(
        { runtime: 'docker', image: config.docker.image, imageId: checked.imageId, engine: checked.engineVersion },
        'agents run as containers',
      );
  } catch (error) {
    const clawError = ClawError.from(error);
    if (clawError.code === 'ENGINE_UNAVAILABLE' || clawError.code === 'IMAGE_NOT_FOUND') {
      throw new StartupError(
        clawError.code,
        EXIT_CODES.unavailable,
        clawError.message,
        String(clawError.details.fix ?? ''),
        clawError.details,
      );
    }
    throw clawError;
  }
  return runtime;
}

/** What an agent's definition asks of its sandbox; a folder that cannot be read asks nothing. */
function sandboxOf(agent: string): AgentSandboxRequest {
  let container: ReturnType<typeof loadAgent>['container'];
  try {
    container = loadAgent(agent).container;
  } catch {
    return {}; // its own process reports the folder's error and exits 78
  }
  return {
    ...(container?.network === undefined ? {} : { network: container.network }),
    ...(container?.memoryMb === undefined ? {} : { memoryBytes: container.memoryMb * 1024 * 1024 }),
    ...(container?.pids === undefined ? {} : { pids: container.pids }),
  };
}

/** Registers every configured agent that the database does not know yet (idempotent across restarts). */
/** Logs each model load at every tenth of its progress (node-llama-cpp reports far more often). */
function loadProgressLogger(logger: Logger): (event: { modelId: string; progress: number }) => void {
  const logged = new Map<string, number>();
  return ({ modelId, progress }) => {
    const tenth = Math.floor(progress * 10);
    if ((logged.get(modelId) ?? -1) >= tenth) return;
    logged.set(modelId, tenth);
    logger.info({ model: modelId, percent: tenth * 10 }, 'loading model');
  };
}

/**
 * Opens the bus database, upgrading an older schema in place where that adds and loses nothing. A
 * database this version cannot use stops the start (exit 65) with the data directory named in the fix,
 * before any agent starts, and is left as it was.
 */
function openDatabase(config: OrchestratorConfig, logger: Logger): EmbeddedDatabase {
  try {
    return EmbeddedDatabase.open({ path: config.databasePath, adminName: ORCHESTRATOR_IDENTITY, logger });
  } catch (error) {
    if (!(error instanceof ClawError) || error.code !== 'SCHEMA_MISMATCH') throw error;
    const directory = config.dataDirectory;
    throw new StartupError(
      'SCHEMA_MISMATCH',
      EXIT_CODES.dataError,
      error.message,
      `nothing in it was changed. Back up ${directory}, then move it aside (mv ${directory} ${directory}.old) to start with a new database, or migrate the data (docs/bus.md, "Schema changes").`,
      error.details,
    );
  }
}

function registerAgents(database: EmbeddedDatabase, config: OrchestratorConfig): void {
  const known = new Set(database.query(ORCHESTRATOR_IDENTITY, 'agent').map((row) => row.name));
  for (const [name, agent] of Object.entries(config.agents)) {
    if (known.has(name)) continue;
    database.callReducer(ORCHESTRATOR_IDENTITY, 'register_agent', {
      name,
      identity: identityForName(name),
      role: agent.role ?? DEFAULT_ROLES[name] ?? 'agent',
    });
  }
  grantPlanApproval(database, Object.keys(config.agents));
}

/**
 * Agents whose folder says `approvesPlans` (LeadClaw) may decide other agents' plans; the others may
 * not. Only an admin can grant it, so the orchestrator does, from the agent folders, at every start.
 * An agent without a readable folder keeps what it had (its own process reports the folder's error).
 */
function grantPlanApproval(database: EmbeddedDatabase, names: readonly string[]): void {
  const approvers = new Set(database.query(ORCHESTRATOR_IDENTITY, 'plan_approver').map((row) => row.agent));
  for (const name of names) {
    let approves: boolean;
    try {
      approves = loadAgent(name).approvesPlans;
    } catch {
      continue;
    }
    if (approves !== approvers.has(name)) {
      database.callReducer(ORCHESTRATOR_IDENTITY, 'set_plan_approver', { agent: name, allowed: approves });
    }
  }
}

async function resolveModels(config: OrchestratorConfig): Promise<ModelSpec[]> {
  return Promise.all(
    config.models.map(async (model) => ({
      id: model.id,
      path: model.path === GENERATED_MODEL ? await ensureTinyModel(config.generatedModelsDirectory) : model.path,
      contextSize: model.contextSize,
      slots: model.slots,
      gpuLayers: model.gpuLayers,
    })),
  );
}

/**
 * Writes one accounting record to the database. A failure to record is logged, never thrown: the
 * agent already has its answer, and accounting must not turn a success into an error. Rows are per
 * agent: the CLI (a person, not an agent) is counted only in the service's in-memory totals.
 */
function recordInference(
  database: EmbeddedDatabase,
  host: string,
  record: InferenceAccountingRecord,
  logger: Logger,
): void {
  if (record.agent === CLI_IDENTITY) return;
  const milliseconds = (value: number): number => Math.min(0xffff_ffff, Math.round(value));
  try {
    database.callReducer(ORCHESTRATOR_IDENTITY, 'record_inference', {
      agent: record.agent,
      host: host
        .replace(/[^A-Za-z0-9_-]/g, '-')
        .replace(/^[^A-Za-z]/, 'h')
        .slice(0, 64),
      model: record.modelId,
      priority_class: record.priority,
      prompt_tokens: record.tokensIn,
      completion_tokens: record.tokensOut,
      duration_ms: milliseconds(record.queuedMs + record.generateMs),
      request_id: record.requestId,
      method: record.method,
      outcome: record.outcome,
      ...(record.errorCode === undefined ? {} : { error_code: record.errorCode }),
      cached_prompt_tokens: record.tokensReused,
      queued_ms: Math.min(milliseconds(record.queuedMs), milliseconds(record.queuedMs + record.generateMs)),
    });
  } catch (error) {
    logger.warn({ err: error, agent: record.agent, requestId: record.requestId }, 'could not record inference usage');
  }
}
