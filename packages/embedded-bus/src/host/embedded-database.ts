/**
 * The embedded bus database: runs db-module's reducers (the same functions SpacetimeDB runs) against
 * SQLite. One reducer call is one `BEGIN IMMEDIATE` transaction; a throw rolls back everything it
 * wrote. Committed row changes go to `onCommit` listeners. Scheduled reducers run from a timer on the
 * earliest due schedule row, as the database's own identity.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  describeTables,
  identityFromHex,
  isSenderError,
  type ModuleDb,
  type ReducerContext,
  type ReducerDefinition,
  reducerCatalog,
  type TableDescription,
  timestampFromMicros,
  viewCatalog,
} from '@clawfleet/db-module';
import {
  type BusRow,
  type BusRowChange,
  ClawError,
  describeValue,
  type Logger,
  silentLogger,
} from '@clawfleet/protocol';
import Database from 'better-sqlite3';
import { z } from 'zod';
import { type Converter, cachedIdentity, fromPublic, publicEncoder, ValueTypeError } from './column-codec.ts';
import {
  type GroupCommitHost,
  prepareTransactionStatements,
  type ReducerCallResult,
  runGroup,
  type TransactionStatements,
} from './group-commit.ts';
import { DATABASE_IDENTITY_HEX, identityForName } from './identity.ts';
import {
  callerIdentityHex,
  isPlainObject,
  LIFECYCLE_KINDS,
  type PreparedCall,
  prepareCall,
} from './reducer-arguments.ts';
import { RowVisibility } from './row-visibility.ts';
import { isScheduleTable, ScheduleRunner } from './schedules.ts';
import { META_TABLE, upgradeSchema } from './schema-upgrade.ts';
import { type RuntimeChange, type RuntimeRow, SqliteTable, TableConstraintError } from './sqlite-table.ts';

export type { ReducerCallResult } from './group-commit.ts';

/** One client reducer call of a group (`callReducers`). */
export interface ReducerCall {
  callerName: string;
  reducer: string;
  args: Record<string, unknown>;
}

/** What metrics see of the database (`observe`): each client reducer call, each publication of changes. */
export interface DatabaseObserver {
  /** A client reducer call ended; `errorCode` when it was refused or failed (nothing was written). */
  reducerCall?(event: { reducer: string; caller: string; errorCode?: string }): void;
  /** Committed changes were handed to every `onCommit` listener, taking `durationMs`. */
  notified?(event: { durationMs: number; changes: number }): void;
}

export interface EmbeddedDatabaseOptions {
  /** SQLite file (its directory is created), or ':memory:'. */
  path: string;
  /** The name whose identity owns the database: `init` runs as it on first open. @default 'orchestrator' */
  adminName?: string;
  logger?: Logger;
  /** Clock in milliseconds since the epoch; tests inject one to move time without sleeping. @default Date.now */
  now?: () => number;
  /** How long a write waits for another process's transaction before failing. @default 5000 */
  busyTimeoutMs?: number;
}

const optionsSchema = z.object({
  path: z
    .string({
      error: (issue) => `Expected \`path\` to be a file path or ':memory:', got ${describeValue(issue.input)}`,
    })
    .min(1, {
      error: () => "Expected `path` to be a file path or ':memory:', got an empty string",
    }),
  adminName: z
    .string({ error: (issue) => `Expected \`adminName\` to be a non-empty name, got ${describeValue(issue.input)}` })
    .min(1, { error: () => 'Expected `adminName` to be a non-empty name, got an empty string' })
    .optional(),
  now: z.function().optional(),
  busyTimeoutMs: z
    .number({
      error: (issue) => `Expected \`busyTimeoutMs\` to be an integer 0-600000, got ${describeValue(issue.input)}`,
    })
    .int({
      error: (issue) => `Expected \`busyTimeoutMs\` to be an integer 0-600000, got ${describeValue(issue.input)}`,
    })
    .min(0, {
      error: (issue) => `Expected \`busyTimeoutMs\` to be an integer 0-600000, got ${describeValue(issue.input)}`,
    })
    .max(600_000, {
      error: (issue) => `Expected \`busyTimeoutMs\` to be an integer 0-600000, got ${describeValue(issue.input)}`,
    })
    .optional(),
});

const DATABASE_IDENTITY = identityFromHex(DATABASE_IDENTITY_HEX);

/** A table's columns with their runtime -> public converters, compiled once. */
interface PublicRowPlan {
  readonly names: readonly string[];
  readonly encoders: readonly Converter[];
}

export class EmbeddedDatabase {
  readonly #database: Database.Database;
  readonly #tables = new Map<string, SqliteTable>();
  readonly #descriptions = new Map<string, TableDescription>();
  readonly #listeners = new Set<(changes: BusRowChange[]) => void>();
  readonly #observers = new Set<DatabaseObserver>();
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #adminName: string;
  /** The table handles reducers see as `ctx.db`, built once in #initialise. */
  #db!: ModuleDb;
  readonly #publicPlans = new Map<string, PublicRowPlan>();
  readonly #statements: TransactionStatements;
  readonly #visibility: RowVisibility;
  readonly #schedules: ScheduleRunner;
  /** The group-commit runner's view of this database (group-commit.ts). */
  readonly #groupHost: GroupCommitHost;
  #pending: RuntimeChange[] | undefined;
  #closed = false;

  private constructor(database: Database.Database, options: EmbeddedDatabaseOptions) {
    this.#database = database;
    this.#logger = (options.logger ?? silentLogger).child({ component: 'embedded-database' });
    this.#now = options.now ?? Date.now;
    this.#adminName = options.adminName ?? 'orchestrator';
    this.#statements = prepareTransactionStatements(database);
    this.#visibility = new RowVisibility(database, this.#tables, this.#descriptions);
    this.#schedules = new ScheduleRunner(
      {
        now: this.#now,
        table: (name) => this.#tables.get(name)!,
        runScheduled: (name, definition, args, afterRun) =>
          this.#execute(DATABASE_IDENTITY_HEX, name, definition, args, afterRun),
        writeAndPublish: (body) => this.#notify(this.#toPublicChanges(this.#transaction(body))),
      },
      this.#logger,
    );
    this.#groupHost = {
      database,
      statements: this.#statements,
      collect: (changes) => {
        this.#pending = changes;
      },
      run: (call) => call.definition.run(this.#context(call.senderHex), call.args),
      reducerError: (name, error) => this.#reducerError(name, error),
      committed: (changes) => {
        this.#visibility.forgetViewersIfChanged(changes);
        const publicChanges = this.#toPublicChanges(changes);
        this.#notify(publicChanges);
        return publicChanges;
      },
      schedulesChanged: () => this.#schedules.arm(),
      visibleChanges: (callerName, changes) => this.#visibleChanges(callerName, changes),
      isScheduleTable,
    };
  }

  static open(options: EmbeddedDatabaseOptions): EmbeddedDatabase {
    const parsed = optionsSchema.safeParse(options);
    if (!parsed.success) {
      throw new ClawError('CONFIG_INVALID', parsed.error.issues.map((issue) => issue.message).join('; '));
    }
    let database: Database.Database;
    try {
      if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
      database = new Database(options.path);
      if (options.path !== ':memory:') database.pragma('journal_mode = WAL');
      database.pragma('synchronous = NORMAL');
      database.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5_000}`);
    } catch (error) {
      throw new ClawError(
        'DATABASE_ERROR',
        `Could not open the embedded database at ${options.path}: ${(error as Error).message}`,
        {
          cause: error,
          retryable: false,
        },
      );
    }
    const instance = new EmbeddedDatabase(database, options);
    try {
      instance.#initialise(options.path);
    } catch (error) {
      database.close();
      throw ClawError.from(error, 'DATABASE_ERROR');
    }
    return instance;
  }

  #initialise(path: string): void {
    const descriptions = describeTables();
    const handles: Record<string, unknown> = {};
    for (const description of descriptions) {
      const table = new SqliteTable(this.#database, description, (change) => this.#recordChange(change));
      this.#tables.set(description.name, table);
      this.#descriptions.set(description.name, description);
      this.#publicPlans.set(description.name, {
        names: description.columns.map((column) => column.name),
        encoders: description.columns.map((column) => publicEncoder(column.type)),
      });
      handles[description.name] = table.handle();
    }
    // Before anything is written: a file this version cannot use is refused unchanged (schema-upgrade.ts).
    upgradeSchema(this.#database, path, descriptions, this.#tables, this.#logger);
    // The one cast: the handles built from the table descriptions are the ModuleDb reducers are typed against.
    this.#db = handles as unknown as ModuleDb;
    const initialised = this.#database.prepare(`SELECT value FROM ${META_TABLE} WHERE key = 'initialised'`).get();
    if (initialised === undefined) {
      // `init` runs once per database, as its owner, like SpacetimeDB's first publish.
      this.#execute(identityForName(this.#adminName), 'init', reducerCatalog.init, {}, () => {
        this.#database
          .prepare(`INSERT INTO ${META_TABLE} (key, value) VALUES ('initialised', ?)`)
          .run(String(this.#now()));
      });
    }
    this.#resetPresence();
    this.#schedules.arm();
  }

  /** No connection survives a restart of the host that owns them, so nobody is online at open. */
  #resetPresence(): void {
    const agents = this.#tables.get('agent')!;
    this.#transaction(() => {
      for (const agent of agents.all()) {
        if (agent.connections !== 0 || agent.online !== false)
          agents.update({ ...agent, connections: 0, online: false });
      }
    });
  }

  #recordChange(change: RuntimeChange): void {
    if (this.#pending === undefined) throw new Error('A table was written outside a reducer transaction');
    this.#pending.push(change);
  }

  /** Runs `body` in one `BEGIN IMMEDIATE` transaction; a throw rolls all of it back. Returns its changes. */
  #transaction(body: () => void): RuntimeChange[] {
    const changes: RuntimeChange[] = [];
    this.#pending = changes;
    try {
      this.#statements.begin.run();
      try {
        body();
        this.#statements.commit.run();
      } catch (error) {
        // SQLite may already have rolled back (some I/O and memory errors do that itself).
        if (this.#database.inTransaction) this.#statements.rollback.run();
        throw error;
      }
    } finally {
      this.#pending = undefined;
    }
    this.#visibility.forgetViewersIfChanged(changes);
    return changes;
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClawError('SHUTTING_DOWN', 'The embedded database is closed', { retryable: false });
  }

  #toPublicRow(table: string, row: RuntimeRow): BusRow {
    const { names, encoders } = this.#publicPlans.get(table)!;
    const result: BusRow = {};
    for (let index = 0; index < names.length; index++) {
      const name = names[index]!;
      result[name] = encoders[index]!(row[name]);
    }
    return result;
  }

  #toPublicChanges(changes: RuntimeChange[]): BusRowChange[] {
    return changes.map((change) => {
      const publicChange: BusRowChange = {
        table: change.table,
        op: change.op,
        row: this.#toPublicRow(change.table, change.row),
      };
      if (change.oldRow !== undefined) publicChange.oldRow = this.#toPublicRow(change.table, change.oldRow);
      return publicChange;
    });
  }

  /** Each change to a table behind a view is also published under the view's name. */
  #withViewChanges(changes: BusRowChange[]): BusRowChange[] {
    const result = [...changes];
    for (const [view, table] of Object.entries(viewCatalog)) {
      for (const change of changes) if (change.table === table) result.push({ ...change, table: view });
    }
    return result;
  }

  /**
   * Runs `definition` as `senderHex` in one transaction and publishes the committed changes.
   * `afterRun` runs inside the same transaction (used to mark the database initialised).
   */
  #execute(
    senderHex: string,
    name: string,
    definition: ReducerDefinition,
    args: Record<string, unknown>,
    afterRun?: () => void,
  ): BusRowChange[] {
    const context = this.#context(senderHex);
    let changes: RuntimeChange[];
    try {
      changes = this.#transaction(() => {
        definition.run(context, args);
        afterRun?.();
      });
    } catch (error) {
      throw this.#reducerError(name, error);
    }
    const publicChanges = this.#toPublicChanges(changes);
    this.#notify(publicChanges);
    if (changes.some((change) => isScheduleTable(change.table))) this.#schedules.arm();
    return publicChanges;
  }

  /** The reducer context for one call: its sender, and the time it starts. */
  #context(senderHex: string): ReducerContext {
    return {
      sender: senderHex === DATABASE_IDENTITY_HEX ? DATABASE_IDENTITY : cachedIdentity(senderHex),
      databaseIdentity: DATABASE_IDENTITY,
      timestamp: timestampFromMicros(BigInt(Math.floor(this.#now())) * 1_000n),
      db: this.#db,
    };
  }

  #reducerError(name: string, error: unknown): ClawError {
    if (error instanceof ClawError) return error;
    if (isSenderError(error) || error instanceof TableConstraintError) {
      return new ClawError('REDUCER_REJECTED', (error as Error).message, { details: { reducer: name } });
    }
    if (error instanceof Database.SqliteError) {
      if (error.code.startsWith('SQLITE_CONSTRAINT')) {
        return new ClawError('REDUCER_REJECTED', `Reducer ${name} broke a table constraint: ${error.message}`, {
          cause: error,
          details: { reducer: name },
        });
      }
      const busy = error.code === 'SQLITE_BUSY' || error.code === 'SQLITE_LOCKED';
      return new ClawError('DATABASE_ERROR', `Reducer ${name} failed in SQLite (${error.code}): ${error.message}`, {
        cause: error,
        retryable: busy,
        details: { reducer: name, sqliteCode: error.code },
      });
    }
    const message = error instanceof Error ? error.message : String(error);
    return new ClawError('INTERNAL', `Reducer ${name} failed: ${message}`, {
      cause: error,
      details: { reducer: name },
    });
  }

  #notify(changes: BusRowChange[]): void {
    if (changes.length === 0) return;
    const started = this.#observers.size > 0 ? performance.now() : 0;
    const published = this.#withViewChanges(changes);
    for (const listener of this.#listeners) {
      try {
        listener(published);
      } catch (error) {
        this.#logger.error({ err: error }, 'onCommit listener threw; the transaction stays committed');
      }
    }
    if (this.#observers.size === 0) return;
    const event = { durationMs: performance.now() - started, changes: changes.length };
    for (const observer of this.#observers) observer.notified?.(event);
  }

  #observeCall(callerName: string, reducer: string, error: ClawError | undefined): void {
    for (const observer of this.#observers) {
      observer.reducerCall?.({
        reducer,
        caller: callerName,
        ...(error === undefined ? {} : { errorCode: error.code }),
      });
    }
  }

  /** Watches reducer calls and publications (metrics); cheap when nothing observes. Returns the unsubscribe. */
  observe(observer: DatabaseObserver): () => void {
    this.#observers.add(observer);
    return () => {
      this.#observers.delete(observer);
    };
  }

  /**
   * Runs a client reducer as `callerName`. Returns the committed row changes the caller may see.
   * Throws ClawError: REDUCER_REJECTED (the reducer's SenderError message), UNKNOWN_REDUCER, FORBIDDEN
   * (a lifecycle reducer), INVALID_PARAMS (arguments do not match the declared parameter types),
   * DATABASE_ERROR (SQLite failed; retryable when busy), INTERNAL (a bug in a reducer).
   */
  callReducer(callerName: string, reducer: string, args: Record<string, unknown>): BusRowChange[] {
    this.#assertOpen();
    let changes: BusRowChange[];
    try {
      const call = prepareCall(0, callerName, reducer, args);
      changes = this.#execute(call.senderHex, call.reducer, call.definition, call.args);
    } catch (error) {
      if (this.#observers.size > 0) this.#observeCall(callerName, reducer, ClawError.from(error));
      throw error;
    }
    if (this.#observers.size > 0) this.#observeCall(callerName, reducer, undefined);
    return this.#visibleChanges(callerName, changes);
  }

  #visibleChanges(callerName: string, changes: BusRowChange[]): BusRowChange[] {
    const viewer = this.#visibility.viewer(callerName);
    return changes.filter((change) => this.#visibility.visibleTo(viewer, change.table, change.row));
  }

  /**
   * Runs client reducer calls in order as one group commit: one `BEGIN IMMEDIATE` … `COMMIT`, each call
   * inside its own savepoint. A call that throws rolls back its savepoint only, so each call's effects
   * are all-or-nothing and each sees the calls before it, exactly as if they had run one after another;
   * the group pays for one commit instead of one per call. Results come back only after `COMMIT`
   * returned (a failed `COMMIT` fails every call of the group that had succeeded, with DATABASE_ERROR),
   * and each successful call's changes are published to `onCommit` listeners, in call order, before
   * this returns. Never throws for a call's failure: each result holds what `callReducer` would have
   * returned or thrown.
   */
  callReducers(calls: readonly ReducerCall[]): ReducerCallResult[] {
    this.#assertOpen();
    const results: ReducerCallResult[] = new Array(calls.length);
    const prepared: PreparedCall[] = [];
    for (let index = 0; index < calls.length; index++) {
      const call = calls[index]!;
      try {
        prepared.push(prepareCall(index, call.callerName, call.reducer, call.args));
      } catch (error) {
        results[index] = { ok: false, error: ClawError.from(error, 'INTERNAL') };
      }
    }
    let start = 0;
    while (start < prepared.length) {
      if (start === prepared.length - 1) {
        // Alone, a call needs no savepoint: run it exactly as `callReducer` does.
        const call = prepared[start]!;
        try {
          const changes = this.#execute(call.senderHex, call.reducer, call.definition, call.args);
          results[call.index] = { ok: true, changes: this.#visibleChanges(call.callerName, changes) };
        } catch (error) {
          results[call.index] = { ok: false, error: ClawError.from(error, 'INTERNAL') };
        }
        break;
      }
      start += runGroup(this.#groupHost, prepared.slice(start), results);
    }
    if (this.#observers.size > 0) {
      for (let index = 0; index < calls.length; index++) {
        const result = results[index];
        this.#observeCall(
          calls[index]!.callerName,
          calls[index]!.reducer,
          result?.ok === false ? result.error : undefined,
        );
      }
    }
    return results;
  }

  /**
   * Whether `callerName` may subscribe to or query `table` at all, as SpacetimeDB decides it:
   * public tables and views for everyone, private tables for admins (the module owner) only.
   * Rows are then still filtered one by one by `isVisible`.
   */
  canRead(callerName: string, table: string): boolean {
    return this.#visibility.canRead(callerName, table);
  }

  /** Whether `callerName` may see `row` of `table` (a table or a view name); used to filter pushed changes. */
  isVisible(callerName: string, table: string, row: BusRow): boolean {
    this.#assertOpen();
    return this.#visibility.visibleTo(this.#visibility.viewer(callerName), table, row);
  }

  /**
   * Rows of a table (or view) visible to `callerName`, optionally filtered by column equality
   * (values in the public form). Throws NOT_FOUND for an unknown table, INVALID_PARAMS for bad filters.
   */
  query(callerName: string, table: string, where: Record<string, unknown> = {}): BusRow[] {
    this.#assertOpen();
    callerIdentityHex(callerName);
    const tableName = (viewCatalog as Record<string, string>)[table] ?? table;
    const store = typeof tableName === 'string' ? this.#tables.get(tableName) : undefined;
    if (store === undefined) throw new ClawError('NOT_FOUND', `No table or view named ${describeValue(table)}`);
    if (!isPlainObject(where))
      throw new ClawError('INVALID_PARAMS', `Expected \`where\` to be an object, got ${describeValue(where)}`);
    const runtimeWhere: Record<string, unknown> = {};
    for (const [column, value] of Object.entries(where)) {
      const description = store.description.columns.find((candidate) => candidate.name === column);
      if (description === undefined) {
        throw new ClawError('INVALID_PARAMS', `Table ${tableName} has no column ${describeValue(column)}`);
      }
      try {
        runtimeWhere[column] = fromPublic(description.type, value, `where.${column}`);
      } catch (error) {
        if (error instanceof ValueTypeError) throw new ClawError('INVALID_PARAMS', error.message);
        throw error;
      }
    }
    const viewer = this.#visibility.viewer(callerName);
    return store
      .selectWhere(runtimeWhere)
      .map((row) => this.#toPublicRow(tableName, row))
      .filter((row) => this.#visibility.visibleTo(viewer, tableName, row));
  }

  /** Subscribes to committed changes (client, lifecycle and scheduled reducers). Returns the unsubscribe. */
  onCommit(listener: (changes: BusRowChange[]) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Runs the `client_connected` lifecycle reducer for a new connection of `callerName`. */
  clientConnected(callerName: string): void {
    this.#assertOpen();
    this.#execute(callerIdentityHex(callerName), 'client_connected', reducerCatalog.client_connected, {});
  }

  clientDisconnected(callerName: string): void {
    this.#assertOpen();
    this.#execute(callerIdentityHex(callerName), 'client_disconnected', reducerCatalog.client_disconnected, {});
  }

  /** Table and view names that `query` accepts and changes are published under. */
  tableNames(): string[] {
    return [...this.#descriptions.keys(), ...Object.keys(viewCatalog)];
  }

  /** Reducers clients may call (lifecycle reducers excluded). */
  reducerNames(): string[] {
    return Object.entries(reducerCatalog)
      .filter(([, definition]) => !LIFECYCLE_KINDS.has((definition as ReducerDefinition).kind))
      .map(([name]) => name);
  }

  /**
   * Runs every scheduled reducer whose time has come (by the injected clock), each in its own
   * transaction that also deletes its schedule row. Called by the host's timer; tests call it after
   * moving their clock. Returns all committed changes.
   */
  runDueSchedules(): BusRowChange[] {
    this.#assertOpen();
    return this.#schedules.runDue();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#schedules.close();
    this.#listeners.clear();
    this.#observers.clear();
    this.#database.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
