import { statSync } from 'node:fs';
import type { IpcServer, RequestContext } from '@clawfleet/ipc';
import {
  ADMIN_METHODS,
  type AdminStatusResult,
  adminSqlParamsSchema,
  adminStatusParamsSchema,
  ClawError,
  type Logger,
} from '@clawfleet/protocol';
import type { OrchestratorConfig } from '../config/config.ts';
import type { SlotPoolStatus } from '../inference/slot-pool/index.ts';
import { ReadOnlySql } from './read-only-sql.ts';

export interface AdminServiceOptions {
  server: IpcServer;
  config: OrchestratorConfig;
  /** Names that may call `admin.*`: the orchestrator's own identity and the CLI's. */
  adminNames: readonly string[];
  poolStatus: () => SlotPoolStatus;
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
        this.#sql ??= new ReadOnlySql(this.#options.config.databasePath);
        return this.#sql.query(params.sql, params.maxRows);
      },
    });
  }

  status(): AdminStatusResult {
    const { config } = this.#options;
    const pool = this.#options.poolStatus();
    return {
      pid: process.pid,
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
      agents: Object.entries(config.agents).map(([name, agent]) => ({ name, modelId: agent.modelId })),
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
