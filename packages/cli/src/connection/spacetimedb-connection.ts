import { readFileSync } from 'node:fs';
import { type BusClient, type BusQuery, type BusTableName, SpacetimeDbBusClient } from '@clawfleet/bus-client';
import type { FleetConnection } from '@clawfleet/fleet-views';
import {
  type AdminAgentControlResult,
  type AdminSqlResult,
  type AdminStatusResult,
  type BusRow,
  busQueryMatches,
  ClawError,
  isClawError,
  parseBusQuery,
} from '@clawfleet/protocol';
import type { CliSettings, SpacetimeDbToken } from '../settings/cli-settings.ts';
import { spacetimeDbRequest, spacetimeDbSql } from './spacetimedb-sql.ts';

type DataServer = NonNullable<CliSettings['dataServer']>;

function readToken(token: SpacetimeDbToken): string {
  if (token === undefined) {
    throw new ClawError(
      'AUTH_FAILED',
      '`--server` needs the token of an admin identity of the database (the module owner, or one added with add_admin): set SPACETIMEDB_TOKEN, or SPACETIMEDB_TOKEN_FILE to a file holding it',
    );
  }
  if ('value' in token) return token.value;
  let text: string;
  try {
    text = readFileSync(token.file, 'utf8').trim();
  } catch (error) {
    throw new ClawError(
      'AUTH_FAILED',
      `Cannot read SPACETIMEDB_TOKEN_FILE ${token.file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  if (text === '') throw new ClawError('AUTH_FAILED', `SPACETIMEDB_TOKEN_FILE ${token.file} is empty`);
  return text;
}

function sqlLiteral(value: string | number | boolean): string {
  if (typeof value === 'string') return `'${value.replace(/'/g, "''")}'`;
  return String(value);
}

/**
 * `claw --server <url>`: the data commands against a SpacetimeDB database directly, as an admin
 * identity, with no orchestrator in between. Reads subscribe to the table they need and take the
 * snapshot (SpacetimeDB's clients read through subscriptions); writes are reducer calls; `db sql`
 * goes to the server's SQL endpoint, refused here first if it is not one SELECT. What only the
 * orchestrator knows (its process, the slot pool, supervision) is not in the database: those
 * commands say so.
 */
export class SpacetimeDbConnection implements FleetConnection, AsyncDisposable {
  readonly server: DataServer;
  readonly #bus: SpacetimeDbBusClient;
  readonly #token: string;

  private constructor(server: DataServer, bus: SpacetimeDbBusClient, token: string) {
    this.server = server;
    this.#bus = bus;
    this.#token = token;
  }

  static async connect(server: DataServer, options: { timeoutMs?: number } = {}): Promise<SpacetimeDbConnection> {
    const token = readToken(server.token);
    // Over HTTP first, so a wrong token or database is one clear line (the SDK only says the socket
    // failed, and logs to the console): the token is traded for a WebSocket token as the SDK would,
    // and the database must exist.
    const target = { server: server.url, database: server.database, token };
    const timeoutMs = options.timeoutMs ?? 10_000;
    await spacetimeDbRequest(target, 'POST', 'v1/identity/websocket-token', undefined, { timeoutMs });
    await spacetimeDbRequest(target, 'GET', `v1/database/${encodeURIComponent(server.database)}`, undefined, {
      timeoutMs,
    });
    let bus: SpacetimeDbBusClient;
    try {
      bus = await SpacetimeDbBusClient.connect({
        uri: server.url,
        databaseName: server.database,
        name: 'cli',
        token,
        reconnect: false,
        connectTimeoutMs: timeoutMs,
      });
    } catch (error) {
      if (isClawError(error, 'CONNECT_FAILED') || isClawError(error, 'CONFIG_INVALID')) throw error;
      throw new ClawError(
        'CONNECT_FAILED',
        `Could not open database \`${server.database}\` on SpacetimeDB at ${server.url}: ${ClawError.from(error).message}`,
        { cause: error },
      );
    }
    return new SpacetimeDbConnection(server, bus, token);
  }

  /** Rows of one table, `SELECT * FROM table [WHERE column = literal [AND ...]]`, as a snapshot. */
  async query(table: string, where: Record<string, string | number | boolean> = {}): Promise<BusRow[]> {
    const conditions = Object.entries(where).map(([column, value]) => `${column} = ${sqlLiteral(value)}`);
    const text = `SELECT * FROM ${table}${conditions.length > 0 ? ` WHERE ${conditions.join(' AND ')}` : ''}`;
    const parsed = parseBusQuery(text);
    const subscription = this.#bus.subscribe(text as BusQuery);
    try {
      await subscription.ready;
      // The cache holds every live subscription's rows: keep this query's own.
      return this.#bus
        .rows(table as BusTableName)
        .filter((row) => busQueryMatches(parsed, table, row as Record<string, unknown>));
    } finally {
      await subscription.dispose();
    }
  }

  async call(reducer: string, args: Record<string, unknown>): Promise<void> {
    await (this.#bus.callReducer as (name: string, args: Record<string, unknown>) => Promise<void>)(reducer, args);
  }

  async identity(): Promise<string> {
    return this.#bus.identity;
  }

  status(): Promise<AdminStatusResult> {
    return Promise.reject(orchestratorOnly('the orchestrator (its process, slot pool and supervised agents)'));
  }

  agentControl(): Promise<AdminAgentControlResult> {
    return Promise.reject(orchestratorOnly('restarting, pausing or resuming an agent'));
  }

  sql(sql: string, maxRows: number): Promise<AdminSqlResult> {
    return spacetimeDbSql(
      { server: this.server.url, database: this.server.database, token: this.#token },
      sql,
      maxRows,
    );
  }

  /** The subscribing client itself, for commands that follow changes live (`stimulus --wait`). */
  async bus(): Promise<BusClient> {
    return this.#bus;
  }

  async close(): Promise<void> {
    await this.#bus.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function orchestratorOnly(what: string): ClawError {
  return new ClawError(
    'INVALID_PARAMS',
    `${what[0]?.toUpperCase()}${what.slice(1)} is the orchestrator's, not in the database, so \`--server\` cannot reach it: run this command without --server, where the orchestrator runs`,
  );
}
