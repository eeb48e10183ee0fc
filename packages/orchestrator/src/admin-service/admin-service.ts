import { statSync } from 'node:fs';
import type { IpcServer, RequestContext } from '@clawfleet/ipc';
import {
  ADMIN_METHODS,
  type AdminAgentControlResult,
  type AdminReplayResult,
  type AdminSqlResult,
  type AdminStatusResult,
  type AdminWhyResult,
  type AgentControlAction,
  adminAgentControlParamsSchema,
  adminReplayParamsSchema,
  adminSqlParamsSchema,
  adminStatusParamsSchema,
  adminWhyParamsSchema,
  ClawError,
  type Logger,
} from '@clawfleet/protocol';
import type { AgentSupervisor } from '../agent-lifecycle/index.ts';
import type { OrchestratorConfig } from '../config/config.ts';
import type { SlotPoolStatus } from '../inference/slot-pool/index.ts';
import { ReadOnlySql } from './read-only-sql.ts';

export interface AdminServiceOptions {
  server: IpcServer;
  config: OrchestratorConfig;
  /** Names that may call `admin.*`: the orchestrator's own identity and the CLI's. */
  adminNames: readonly string[];
  poolStatus: () => SlotPoolStatus;
  /** The agents' supervisor, once started; undefined when this orchestrator does not start agents. */
  agentSupervisor?: () => AgentSupervisor | undefined;
  /** Replay and provenance (docs/provenance.md); without it `admin.replay` and `admin.why` are NOT_FOUND. */
  provenance?: {
    replay(cycleId: number, caller: string, signal: AbortSignal): Promise<AdminReplayResult>;
    why(memoryId: number): AdminWhyResult;
  };
  logger: Logger;
  /** @default Date.now() at construction */
  startedAt?: number;
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/**
 * `admin.*` over IPC: what the CLI needs that only the orchestrator knows (slot pool, process,
 * read-only SQL on the embedded bus). Every method checks the caller against `adminNames` first;
 * an agent gets FORBIDDEN, whatever it asks.
 */
export class AdminService {
  readonly #options: AdminServiceOptions;
  readonly #startedAt: number;
  readonly #logger: Logger;
  #sql: ReadOnlySql | undefined;

  constructor(options: AdminServiceOptions) {
    this.#options = options;
    this.#startedAt = options.startedAt ?? Date.now();
    this.#logger = options.logger.child({ component: 'admin' });
    const { server } = options;
    server.handle(ADMIN_METHODS.status, {
      params: adminStatusParamsSchema,
      handler: (_params, context) => {
        this.#authorize(context, ADMIN_METHODS.status);
        return this.status();
      },
    });
    server.handle(ADMIN_METHODS.sql, {
      params: adminSqlParamsSchema,
      handler: (params, context) => {
        this.#authorize(context, ADMIN_METHODS.sql);
        this.#logger.info({ caller: context.identity, sql: params.sql.slice(0, 500) }, 'read-only sql');
        return this.sql(params.sql, params.maxRows);
      },
    });
    server.handle(ADMIN_METHODS.replay, {
      params: adminReplayParamsSchema,
      handler: async (params, context): Promise<AdminReplayResult> => {
        this.#authorize(context, ADMIN_METHODS.replay);
        this.#logger.info({ caller: context.identity, cycleId: params.cycleId }, 'replay');
        return this.replay(params.cycleId, context.identity, context.signal);
      },
    });
    server.handle(ADMIN_METHODS.why, {
      params: adminWhyParamsSchema,
      handler: async (params, context): Promise<AdminWhyResult> => {
        this.#authorize(context, ADMIN_METHODS.why);
        return this.why(params.memoryId);
      },
    });
    server.handle(ADMIN_METHODS.agentControl, {
      params: adminAgentControlParamsSchema,
      handler: async (params, context): Promise<AdminAgentControlResult> => {
        this.#authorize(context, ADMIN_METHODS.agentControl);
        this.#logger.info({ caller: context.identity, agent: params.agent, action: params.action }, 'agent control');
        return this.agentControl(params.agent, params.action);
      },
    });
  }

  /** One read-only SELECT on the bus database (`claw db sql`, and the status's token sums). */
  sql(sql: string, maxRows?: number): AdminSqlResult {
    this.#sql ??= new ReadOnlySql(this.#options.config.databasePath);
    return this.#sql.query(sql, maxRows);
  }

  /** Pauses, resumes or restarts a supervised agent, waiting for its drain. */
  async agentControl(agent: string, action: AgentControlAction): Promise<AdminAgentControlResult> {
    const supervisor = this.#options.agentSupervisor?.();
    if (supervisor === undefined) {
      throw new ClawError(
        'NOT_FOUND',
        'This orchestrator does not supervise agents (started with CLAW_START_AGENTS=false, or still starting)',
      );
    }
    const status = await supervisor.control(agent, action, { graceMs: this.#options.config.drainTimeoutMs });
    return {
      agent: status.agent,
      state: status.state,
      restarts: status.restarts,
      recentCrashes: status.recentCrashes,
      ...(status.instance === undefined ? {} : { instance: status.instance }),
    };
  }

  /** Replays a cycle's recorded model calls (`claw replay`), as `caller` in the slot pool. */
  replay(cycleId: number, caller: string, signal?: AbortSignal): Promise<AdminReplayResult> {
    return this.#provenance().replay(cycleId, caller, signal ?? new AbortController().signal);
  }

  /** The provenance tree of a memory entry (`claw why`, `GET /api/memory/entries/:id/provenance`). */
  why(memoryId: number): AdminWhyResult {
    return this.#provenance().why(memoryId);
  }

  #provenance(): NonNullable<AdminServiceOptions['provenance']> {
    const provenance = this.#options.provenance;
    if (provenance === undefined) {
      throw new ClawError('NOT_FOUND', 'This orchestrator does not record inference, so it cannot replay or explain');
    }
    return provenance;
  }

  status(): AdminStatusResult {
    const { config } = this.#options;
    const pool = this.#options.poolStatus();
    const supervisor = this.#options.agentSupervisor?.();
    const supervision = supervisor?.status() ?? [];
    return {
      pid: process.pid,
      ...(supervisor === undefined ? {} : { runtime: supervisor.runtimeKind }),
      startedAt: this.#startedAt,
      dataDirectory: config.dataDirectory,
      socketPath: config.socketPath,
      gpu: String(config.gpu),
      bus: {
        host: 'embedded',
        location: config.databasePath,
        sizeBytes:
          fileSize(config.databasePath) +
          fileSize(`${config.databasePath}-wal`) +
          fileSize(`${config.databasePath}-shm`),
      },
      pool: {
        queued: pool.queued,
        queuedByPriority: { ...pool.queuedByPriority },
        embeddings: { ...pool.embeddings },
        running: pool.running,
        permitsInUse: pool.permitsInUse,
        maxConcurrent: pool.maxConcurrent,
        budgetBytes: pool.budgetBytes,
        reservedBytes: pool.reservedBytes,
        models: pool.models.map((model) => ({
          id: model.id,
          state: model.state,
          slots: model.slots,
          busySlots: model.busySlots,
          reservedBytes: model.reservedBytes,
        })),
      },
      agents: Object.entries(config.agents).map(([name, agent]) => {
        const supervised = supervision.find((status) => status.agent === name);
        return {
          name,
          modelId: agent.modelId,
          ...(supervised === undefined
            ? {}
            : {
                supervision: {
                  state: supervised.state,
                  restarts: supervised.restarts,
                  recentCrashes: supervised.recentCrashes,
                  ...(supervised.instance === undefined ? {} : { instance: supervised.instance }),
                  ...(supervised.adopted ? { adopted: true } : {}),
                  ...(supervised.lastRestartReason === undefined
                    ? {}
                    : { lastRestartReason: supervised.lastRestartReason }),
                },
              }),
        };
      }),
    };
  }

  dispose(): void {
    this.#sql?.close();
    this.#sql = undefined;
  }

  #authorize(context: RequestContext, method: string): void {
    if (!this.#options.adminNames.includes(context.identity)) {
      this.#logger.warn({ caller: context.identity, method }, 'admin method refused');
      throw new ClawError('FORBIDDEN', `\`${method}\` is for admins; \`${context.identity}\` is not one`);
    }
  }
}
