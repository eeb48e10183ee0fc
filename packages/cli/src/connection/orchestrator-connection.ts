import { existsSync, readFileSync } from 'node:fs';
import { EmbeddedBusClient } from '@clawfleet/bus-client';
import { IpcClient } from '@clawfleet/ipc';
import {
  ADMIN_METHODS,
  type AdminAgentControlResult,
  type AdminReplayResult,
  type AdminSqlResult,
  type AdminStatusResult,
  type AdminWhyResult,
  type AgentControlAction,
  adminAgentControlResultSchema,
  adminReplayResultSchema,
  adminSqlResultSchema,
  adminStatusResultSchema,
  adminWhyResultSchema,
  BUS_METHODS,
  type BusRow,
  busIdentityResultSchema,
  busQueryResultSchema,
  ClawError,
  isClawError,
  parseOrThrow,
} from '@clawfleet/protocol';
import { z } from 'zod';
import type { CliSettings } from '../settings/cli-settings.ts';

/** The identity the CLI authenticates as; the orchestrator makes it a database admin. */
export const CLI_IDENTITY = 'cli';

const tokensFileSchema = z.record(z.string(), z.string());

function notRunning(settings: CliSettings, reason: string): ClawError {
  return new ClawError(
    'CONNECT_FAILED',
    `The orchestrator is not running (${reason}). Start it with \`claw up\`, or point at its data directory with --data-dir.`,
    { details: { socketPath: settings.socketPath } },
  );
}

/** Reads the CLI's token from the tokens file the orchestrator wrote in its data directory. */
export function readCliToken(settings: CliSettings): string {
  let raw: string;
  try {
    raw = readFileSync(settings.tokensPath, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ClawError(
      'AUTH_FAILED',
      code === 'ENOENT'
        ? `No tokens file at ${settings.tokensPath}: the orchestrator writes it on its first start (\`claw up\`)`
        : `Cannot read the tokens file ${settings.tokensPath}: ${code ?? (error as Error).message} (it must be readable by the user who runs the orchestrator)`,
    );
  }
  let tokens: Record<string, string>;
  try {
    tokens = tokensFileSchema.parse(JSON.parse(raw));
  } catch {
    throw new ClawError(
      'AUTH_FAILED',
      `The tokens file ${settings.tokensPath} is not a JSON object of names to tokens`,
    );
  }
  const token = tokens[CLI_IDENTITY];
  if (!token) {
    throw new ClawError(
      'AUTH_FAILED',
      `The tokens file ${settings.tokensPath} has no \`${CLI_IDENTITY}\` entry; restart the orchestrator to create it`,
    );
  }
  return token;
}

/**
 * The CLI's authenticated connection to the orchestrator, as the `cli` identity (a database admin):
 * one-off bus queries and reducer calls, the `admin.*` methods, and a subscribing bus client for
 * commands that follow changes live. No reconnect: a command either reaches the orchestrator or
 * says it is not running.
 */
export class OrchestratorConnection implements AsyncDisposable {
  readonly settings: CliSettings;
  readonly #ipc: IpcClient;
  #bus: EmbeddedBusClient | undefined;
  #identity: string | undefined;

  private constructor(settings: CliSettings, ipc: IpcClient) {
    this.settings = settings;
    this.#ipc = ipc;
  }

  static async connect(settings: CliSettings, options: { timeoutMs?: number } = {}): Promise<OrchestratorConnection> {
    if (!existsSync(settings.socketPath)) throw notRunning(settings, `no socket at ${settings.socketPath}`);
    const token = readCliToken(settings);
    let ipc: IpcClient;
    try {
      ipc = await IpcClient.connect({
        socketPath: settings.socketPath,
        agent: CLI_IDENTITY,
        token,
        reconnect: false,
        connectTimeoutMs: options.timeoutMs ?? 3000,
        requestTimeoutMs: 30_000,
      });
    } catch (error) {
      if (isClawError(error, 'AUTH_FAILED')) {
        throw new ClawError(
          'AUTH_FAILED',
          `The orchestrator at ${settings.socketPath} refused the CLI's token from ${settings.tokensPath}: the tokens file belongs to another data directory or was changed`,
        );
      }
      if (isClawError(error, 'CONNECT_FAILED')) {
        throw notRunning(settings, `nothing answers on ${settings.socketPath}`);
      }
      throw error;
    }
    return new OrchestratorConnection(settings, ipc);
  }

  /** Rows of one table: `SELECT * FROM table [WHERE column = literal [AND ...]]`. */
  async query(table: string, where: Record<string, string | number | boolean> = {}): Promise<BusRow[]> {
    const conditions = Object.entries(where).map(([column, value]) => `${column} = ${sqlLiteral(value)}`);
    const query = `SELECT * FROM ${table}${conditions.length > 0 ? ` WHERE ${conditions.join(' AND ')}` : ''}`;
    const result = await this.#ipc.request(BUS_METHODS.query, { query });
    return parseOrThrow(busQueryResultSchema, result, 'INVALID_RESPONSE', `\`${BUS_METHODS.query}\` result`).rows;
  }

  /** Runs a reducer as the CLI (an admin). */
  async call(reducer: string, args: Record<string, unknown>): Promise<void> {
    await this.#ipc.request(BUS_METHODS.call, { reducer, args });
  }

  /** The CLI's database identity (lowercase hex), as the orchestrator maps it. */
  async identity(): Promise<string> {
    this.#identity ??= parseOrThrow(
      busIdentityResultSchema,
      await this.#ipc.request(BUS_METHODS.identity, {}),
      'INVALID_RESPONSE',
      `\`${BUS_METHODS.identity}\` result`,
    ).identity;
    return this.#identity;
  }

  async status(): Promise<AdminStatusResult> {
    return this.#admin(ADMIN_METHODS.status, {}, adminStatusResultSchema);
  }

  async agentControl(agent: string, action: AgentControlAction): Promise<AdminAgentControlResult> {
    // A stop waits for the agent's drain (up to the orchestrator's drain timeout): no short deadline.
    return this.#admin(ADMIN_METHODS.agentControl, { agent, action }, adminAgentControlResultSchema, 600_000);
  }

  /** Re-runs a cycle's model calls; a cycle of long generations on a real model takes minutes. */
  async replay(cycleId: number): Promise<AdminReplayResult> {
    return this.#admin(ADMIN_METHODS.replay, { cycleId }, adminReplayResultSchema, 600_000);
  }

  async why(memoryId: number): Promise<AdminWhyResult> {
    return this.#admin(ADMIN_METHODS.why, { memoryId }, adminWhyResultSchema);
  }

  async sql(sql: string, maxRows: number): Promise<AdminSqlResult> {
    return this.#admin(ADMIN_METHODS.sql, { sql, maxRows }, adminSqlResultSchema);
  }

  /** A bus client that subscribes, over this same connection (made on first use; `close` ends both). */
  async bus(): Promise<EmbeddedBusClient> {
    this.#bus ??= await EmbeddedBusClient.attach(this.#ipc, { reconnects: false });
    return this.#bus;
  }

  async close(): Promise<void> {
    await this.#bus?.dispose();
    await this.#ipc.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #admin<Result>(
    method: string,
    params: unknown,
    schema: z.ZodType<Result>,
    timeoutMs?: number,
  ): Promise<Result> {
    let result: unknown;
    try {
      result = await this.#ipc.request(method, params, timeoutMs === undefined ? {} : { timeoutMs });
    } catch (error) {
      if (isClawError(error, 'UNKNOWN_METHOD')) {
        throw new ClawError(
          'UNKNOWN_METHOD',
          `The running orchestrator does not offer \`${method}\` (it is older than this CLI); restart it with \`claw down && claw up\``,
        );
      }
      throw error;
    }
    return parseOrThrow(schema, result, 'INVALID_RESPONSE', `\`${method}\` result`);
  }
}

function sqlLiteral(value: string | number | boolean): string {
  if (typeof value === 'string') return `'${value.replace(/'/g, "''")}'`;
  return String(value);
}
