/**
 * The embedded bus database: runs db-module's reducers (the same functions SpacetimeDB runs) against
 * SQLite. One reducer call is one `BEGIN IMMEDIATE` transaction; a throw rolls back everything it
 * wrote. Committed row changes go to `onCommit` listeners. Scheduled reducers run from a timer on the
 * earliest due schedule row, as the database's own identity.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  type AlgebraicType,
  canSeeMemory,
  canSeeMemoryCompaction,
  canSeeMessage,
  describeTables,
  identityFromHex,
  isSenderError,
  type ReducerDefinition,
  reducerCatalog,
  scheduleCatalog,
  type TableDescription,
  timestampFromMicros,
  type Viewer,
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
import {
  type Converter,
  cachedIdentity,
  fromPublic,
  identityHex,
  publicEncoder,
  ValueTypeError,
} from './column-codec.ts';
import { DATABASE_IDENTITY_HEX, identityForName } from './identity.ts';
import {
  type RuntimeChange,
  type RuntimeRow,
  SEQUENCE_TABLE,
  SqliteTable,
  TableConstraintError,
} from './sqlite-table.ts';

/** One client reducer call of a group (`callReducers`). */
export interface ReducerCall {
  callerName: string;
  reducer: string;
  args: Record<string, unknown>;
}

/** The outcome of one call of a group: its visible committed changes, or the error `callReducer` would throw. */
export type ReducerCallResult = { ok: true; changes: BusRowChange[] } | { ok: false; error: ClawError };

/** A call that passed validation, ready to run. */
interface PreparedCall {
  index: number;
  callerName: string;
  senderHex: string;
  reducer: string;
  definition: ReducerDefinition;
  args: Record<string, unknown>;
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

const META_TABLE = '__clawfleet_meta';
const MAX_TIMER_DELAY_MS = 2_147_483_647;
const DATABASE_IDENTITY = identityFromHex(DATABASE_IDENTITY_HEX);
const MAX_CACHED_VIEWERS = 4_096;

/** A table's columns with their runtime -> public converters, compiled once. */
interface PublicRowPlan {
  readonly names: readonly string[];
  readonly encoders: readonly Converter[];
}

function paramType(builder: unknown): AlgebraicType {
  const candidate = builder as { algebraicType?: AlgebraicType; typeBuilder?: { algebraicType: AlgebraicType } };
  const type = candidate.typeBuilder?.algebraicType ?? candidate.algebraicType;
  if (type === undefined) throw new Error('A reducer parameter has no algebraic type');
  return type;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.getPrototypeOf(value) === Object.prototype
  );
}

const LIFECYCLE_KINDS = new Set(['init', 'client-connected', 'client-disconnected']);

/** Whether a change can alter a caller's Viewer (admin membership, an agent's name or identity). */
function changesViewer(change: RuntimeChange): boolean {
  if (change.table === 'admin') return true;
  if (change.table !== 'agent') return false;
  if (change.op !== 'update' || change.oldRow === undefined) return true;
  return (
    change.row.name !== change.oldRow.name || identityHex(change.row.identity) !== identityHex(change.oldRow.identity)
  );
}

/**
 * Whether a change can alter whether an existing row is visible to someone: a Viewer change, or a
 * memory entry leaving or changing owner or scope (its links are as visible as it is).
 */
function changesVisibility(change: RuntimeChange): boolean {
  if (changesViewer(change)) return true;
  if (change.table !== 'memory_entry' || change.op === 'insert') return false;
  if (change.op === 'delete' || change.oldRow === undefined) return true;
  return change.row.agent !== change.oldRow.agent || change.row.scope !== change.oldRow.scope;
}

export class EmbeddedDatabase {
  readonly #database: Database.Database;
  readonly #tables = new Map<string, SqliteTable>();
  readonly #descriptions = new Map<string, TableDescription>();
  readonly #listeners = new Set<(changes: BusRowChange[]) => void>();
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #adminName: string;
  readonly #dbView: Record<string, unknown> = {};
  readonly #publicPlans = new Map<string, PublicRowPlan>();
  readonly #begin: Database.Statement;
  readonly #commit: Database.Statement;
  readonly #rollback: Database.Statement;
  readonly #savepoint: Database.Statement;
  readonly #releaseSavepoint: Database.Statement;
  readonly #rollbackToSavepoint: Database.Statement;
  readonly #dataVersion: Database.Statement;
  /**
   * Viewers by caller name, valid while neither this connection nor another one committed a change to
   * `admin` or `agent`: own commits that touch them clear it, and `PRAGMA data_version` (which moves
   * when another connection to the same file commits) is checked once per synchronous turn (a commit's
   * notification asks for a viewer per subscriber; one check serves them all, as if another process's
   * commit during that turn had come just after it).
   */
  readonly #viewers = new Map<string, Viewer>();
  #viewersDataVersion: unknown;
  #viewersCheckedThisTurn = false;
  readonly #endViewerTurn = (): void => {
    this.#viewersCheckedThisTurn = false;
  };
  #pending: RuntimeChange[] | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(database: Database.Database, options: EmbeddedDatabaseOptions) {
    this.#database = database;
    this.#logger = (options.logger ?? silentLogger).child({ component: 'embedded-database' });
    this.#now = options.now ?? Date.now;
    this.#adminName = options.adminName ?? 'orchestrator';
    // Prepared once: better-sqlite3's `transaction()` builds a new wrapper on every call.
    this.#begin = database.prepare('BEGIN IMMEDIATE');
    this.#commit = database.prepare('COMMIT');
    this.#rollback = database.prepare('ROLLBACK');
    this.#savepoint = database.prepare('SAVEPOINT reducer_call');
    this.#releaseSavepoint = database.prepare('RELEASE reducer_call');
    this.#rollbackToSavepoint = database.prepare('ROLLBACK TO reducer_call');
    this.#dataVersion = database.prepare('PRAGMA data_version').pluck(true);
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
      instance.#initialise();
    } catch (error) {
      database.close();
      throw ClawError.from(error, 'DATABASE_ERROR');
    }
    return instance;
  }

  #initialise(): void {
    this.#database.exec(
      `CREATE TABLE IF NOT EXISTS ${SEQUENCE_TABLE} (table_name TEXT NOT NULL, column_name TEXT NOT NULL, next_value INTEGER NOT NULL, PRIMARY KEY (table_name, column_name)) STRICT`,
    );
    this.#database.exec(`CREATE TABLE IF NOT EXISTS ${META_TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT`);
    for (const description of describeTables()) {
      const table = new SqliteTable(this.#database, description, (change) => this.#recordChange(change));
      this.#database.transaction(() => table.createSchema()).immediate();
      this.#tables.set(description.name, table);
      this.#descriptions.set(description.name, description);
      this.#publicPlans.set(description.name, {
        names: description.columns.map((column) => column.name),
        encoders: description.columns.map((column) => publicEncoder(column.type)),
      });
      this.#dbView[description.name] = table.handle();
    }
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
    this.#armTimer();
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
      this.#begin.run();
      try {
        body();
        this.#commit.run();
      } catch (error) {
        // SQLite may already have rolled back (some I/O and memory errors do that itself).
        if (this.#database.inTransaction) this.#rollback.run();
        throw error;
      }
    } finally {
      this.#pending = undefined;
    }
    this.#forgetViewersIfChanged(changes);
    return changes;
  }

  #forgetViewersIfChanged(changes: readonly RuntimeChange[]): void {
    for (const change of changes) {
      if (changesViewer(change)) {
        this.#viewers.clear();
        return;
      }
    }
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
        definition.run(context as never, args as never);
        afterRun?.();
      });
    } catch (error) {
      throw this.#reducerError(name, error);
    }
    const publicChanges = this.#toPublicChanges(changes);
    this.#notify(publicChanges);
    if (changes.some((change) => Object.hasOwn(scheduleCatalog, change.table))) this.#armTimer();
    return publicChanges;
  }

  /** The reducer context for one call: its sender, and the time it starts. */
  #context(senderHex: string): Record<string, unknown> {
    return {
      sender: senderHex === DATABASE_IDENTITY_HEX ? DATABASE_IDENTITY : cachedIdentity(senderHex),
      databaseIdentity: DATABASE_IDENTITY,
      timestamp: timestampFromMicros(BigInt(Math.floor(this.#now())) * 1_000n),
      db: this.#dbView,
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
    const published = this.#withViewChanges(changes);
    for (const listener of this.#listeners) {
      try {
        listener(published);
      } catch (error) {
        this.#logger.error({ err: error }, 'onCommit listener threw; the transaction stays committed');
      }
    }
  }

  #callerHex(callerName: unknown): string {
    if (typeof callerName !== 'string' || callerName.length === 0) {
      throw new ClawError(
        'INVALID_PARAMS',
        `Expected \`callerName\` to be a non-empty string, got ${describeValue(callerName)}`,
      );
    }
    return identityForName(callerName);
  }

  /**
   * Runs a client reducer as `callerName`. Returns the committed row changes the caller may see.
   * Throws ClawError: REDUCER_REJECTED (the reducer's SenderError message), UNKNOWN_REDUCER, FORBIDDEN
   * (a lifecycle reducer), INVALID_PARAMS (arguments do not match the declared parameter types),
   * DATABASE_ERROR (SQLite failed; retryable when busy), INTERNAL (a bug in a reducer).
   */
  callReducer(callerName: string, reducer: string, args: Record<string, unknown>): BusRowChange[] {
    this.#assertOpen();
    const call = this.#prepareCall(0, callerName, reducer, args);
    const changes = this.#execute(call.senderHex, call.reducer, call.definition, call.args);
    return this.#visibleChanges(callerName, changes);
  }

  #visibleChanges(callerName: string, changes: BusRowChange[]): BusRowChange[] {
    const viewer = this.#viewer(callerName);
    return changes.filter((change) => this.#visibleTo(viewer, change.table, change.row));
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
        prepared.push(this.#prepareCall(index, call.callerName, call.reducer, call.args));
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
      start += this.#runGroup(prepared.slice(start), results);
    }
    return results;
  }

  /**
   * Runs calls from the start of `calls` as one transaction and returns how many it took. A call whose
   * changes alter who may see what (`changesVisibility`) runs in a group of its own: pushed rows are
   * filtered by visibility after the commit, so no call may change the rules by which another call of
   * its group has its rows judged. Met later in a group, such a call is rolled back to its savepoint
   * and the group ends before it; it then runs first in the next one, as it would have run after them.
   */
  #runGroup(calls: readonly PreparedCall[], results: ReducerCallResult[]): number {
    try {
      this.#begin.run();
    } catch (error) {
      for (const call of calls) results[call.index] = { ok: false, error: this.#reducerError(call.reducer, error) };
      return calls.length;
    }
    let taken = calls.length;
    const done: { call: PreparedCall; changes: RuntimeChange[] }[] = [];
    for (let position = 0; position < calls.length; position++) {
      const call = calls[position]!;
      const changes: RuntimeChange[] = [];
      this.#pending = changes;
      try {
        this.#savepoint.run();
        call.definition.run(this.#context(call.senderHex) as never, call.args as never);
        const alone = changes.some(changesVisibility);
        if (alone && position > 0) {
          // Undone here and run first in the next group, after this group's rows were published.
          this.#rollbackToSavepoint.run();
          this.#releaseSavepoint.run();
          taken = position;
          break;
        }
        this.#releaseSavepoint.run();
        done.push({ call, changes });
        if (alone) {
          taken = 1;
          break;
        }
      } catch (error) {
        results[call.index] = { ok: false, error: this.#reducerError(call.reducer, error) };
        if (!this.#database.inTransaction) {
          // SQLite abandoned the whole transaction (I/O or memory failure): the calls before this one
          // are undone too. They were not acknowledged; report them failed and run the rest anew.
          for (const lost of done) {
            results[lost.call.index] = {
              ok: false,
              error: new ClawError(
                'DATABASE_ERROR',
                `Reducer ${lost.call.reducer} was rolled back with its group: ${(error as Error).message}`,
                { cause: error, retryable: true, details: { reducer: lost.call.reducer } },
              ),
            };
          }
          return position + 1;
        }
        this.#rollbackToSavepoint.run();
        this.#releaseSavepoint.run();
      } finally {
        this.#pending = undefined;
      }
    }
    try {
      this.#commit.run();
    } catch (error) {
      if (this.#database.inTransaction) this.#rollback.run();
      for (const { call } of done) results[call.index] = { ok: false, error: this.#reducerError(call.reducer, error) };
      return taken;
    }
    let schedulesChanged = false;
    for (const { call, changes } of done) {
      this.#forgetViewersIfChanged(changes);
      const publicChanges = this.#toPublicChanges(changes);
      this.#notify(publicChanges);
      results[call.index] = { ok: true, changes: publicChanges };
      if (changes.some((change) => Object.hasOwn(scheduleCatalog, change.table))) schedulesChanged = true;
    }
    if (schedulesChanged) this.#armTimer();
    for (const { call } of done) {
      const result = results[call.index] as { ok: true; changes: BusRowChange[] };
      result.changes = this.#visibleChanges(call.callerName, result.changes);
    }
    return taken;
  }

  /** Validates a client call (caller, reducer, arguments); throws the ClawError `callReducer` throws. */
  #prepareCall(index: number, callerName: string, reducer: string, args: Record<string, unknown>): PreparedCall {
    const senderHex = this.#callerHex(callerName);
    if (typeof reducer !== 'string' || !Object.hasOwn(reducerCatalog, reducer)) {
      throw new ClawError('UNKNOWN_REDUCER', `No reducer named ${describeValue(reducer)}`, {
        details: { reducer: typeof reducer === 'string' ? reducer : null },
      });
    }
    const definition = reducerCatalog[reducer as keyof typeof reducerCatalog] as ReducerDefinition;
    if (LIFECYCLE_KINDS.has(definition.kind)) {
      throw new ClawError(
        'FORBIDDEN',
        `\`${reducer}\` is a lifecycle reducer; the host runs it, clients cannot call it`,
      );
    }
    return { index, callerName, senderHex, reducer, definition, args: this.#convertArgs(reducer, definition, args) };
  }

  #convertArgs(reducer: string, definition: ReducerDefinition, args: unknown): Record<string, unknown> {
    if (!isPlainObject(args)) {
      throw new ClawError(
        'INVALID_PARAMS',
        `Expected the arguments of \`${reducer}\` to be an object, got ${describeValue(args)}`,
      );
    }
    const names = Object.keys(definition.params);
    for (const key of Object.keys(args)) {
      if (!names.includes(key)) {
        throw new ClawError(
          'INVALID_PARAMS',
          `Unknown argument \`${key}\` for \`${reducer}\` (its parameters: ${names.length === 0 ? 'none' : names.join(', ')})`,
        );
      }
    }
    const converted: Record<string, unknown> = {};
    try {
      for (const name of names) {
        converted[name] = fromPublic(paramType((definition.params as Record<string, unknown>)[name]), args[name], name);
      }
    } catch (error) {
      if (error instanceof ValueTypeError) {
        throw new ClawError('INVALID_PARAMS', `${error.message} (reducer \`${reducer}\`)`, { details: { reducer } });
      }
      throw error;
    }
    return converted;
  }

  #viewer(callerName: string): Viewer {
    // Inside a transaction the rows may not be committed yet: compute, do not remember.
    if (this.#database.inTransaction) return this.#readViewer(callerName);
    if (!this.#viewersCheckedThisTurn) {
      this.#viewersCheckedThisTurn = true;
      queueMicrotask(this.#endViewerTurn);
      const dataVersion = this.#dataVersion.get();
      if (dataVersion !== this.#viewersDataVersion || this.#viewers.size >= MAX_CACHED_VIEWERS) {
        this.#viewers.clear();
        this.#viewersDataVersion = dataVersion;
      }
    }
    let viewer = this.#viewers.get(callerName);
    if (viewer === undefined) {
      viewer = this.#readViewer(callerName);
      this.#viewers.set(callerName, viewer);
    }
    return viewer;
  }

  #readViewer(callerName: string): Viewer {
    const identity = cachedIdentity(identityForName(callerName));
    const admin = this.#tables.get('admin')!.select('identity', identity);
    const agent = this.#tables.get('agent')!.select('identity', identity)[0];
    return { isAdmin: admin.length > 0, agentName: agent === undefined ? undefined : String(agent.name) };
  }

  #visibleTo(viewer: Viewer, table: string, row: BusRow): boolean {
    const tableName = (viewCatalog as Record<string, string>)[table] ?? table;
    const description = this.#descriptions.get(tableName);
    if (description === undefined) return false;
    if (description.isPublic || viewer.isAdmin) return true;
    switch (tableName) {
      case 'message':
        return canSeeMessage(viewer, {
          from_agent: String(row.from_agent),
          to_agent: row.to_agent === null || row.to_agent === undefined ? undefined : String(row.to_agent),
          mentions: Array.isArray(row.mentions) ? row.mentions.map(String) : [],
        });
      case 'memory_entry':
        return canSeeMemory(viewer, { agent: String(row.agent), scope: String(row.scope) });
      case 'memory_link': {
        // A link is as visible as the memory it belongs to; a link whose memory is gone is admin-only.
        const memory = this.#tables.get('memory_entry')!.select('id', BigInt(row.memory_id as number | bigint))[0];
        return (
          memory !== undefined && canSeeMemory(viewer, { agent: String(memory.agent), scope: String(memory.scope) })
        );
      }
      case 'memory_compaction':
        return canSeeMemoryCompaction(viewer, { agent: String(row.agent) });
      default:
        return false;
    }
  }

  /** Whether `callerName` may see `row` of `table` (a table or a view name); used to filter pushed changes. */
  /**
   * Whether `callerName` may subscribe to or query `table` at all, as SpacetimeDB decides it:
   * public tables and views for everyone, private tables for admins (the module owner) only.
   * Rows are then still filtered one by one by `isVisible`.
   */
  canRead(callerName: string, table: string): boolean {
    if (Object.hasOwn(viewCatalog, table)) return true;
    const description = this.#descriptions.get(table);
    if (description === undefined) return false;
    return description.isPublic || this.#viewer(callerName).isAdmin;
  }

  isVisible(callerName: string, table: string, row: BusRow): boolean {
    this.#assertOpen();
    return this.#visibleTo(this.#viewer(callerName), table, row);
  }

  /**
   * Rows of a table (or view) visible to `callerName`, optionally filtered by column equality
   * (values in the public form). Throws NOT_FOUND for an unknown table, INVALID_PARAMS for bad filters.
   */
  query(callerName: string, table: string, where: Record<string, unknown> = {}): BusRow[] {
    this.#assertOpen();
    this.#callerHex(callerName);
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
    const viewer = this.#viewer(callerName);
    return store
      .selectWhere(runtimeWhere)
      .map((row) => this.#toPublicRow(tableName, row))
      .filter((row) => this.#visibleTo(viewer, tableName, row));
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
    this.#execute(this.#callerHex(callerName), 'client_connected', reducerCatalog.client_connected, {});
  }

  clientDisconnected(callerName: string): void {
    this.#assertOpen();
    this.#execute(this.#callerHex(callerName), 'client_disconnected', reducerCatalog.client_disconnected, {});
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

  #dueMicros(row: RuntimeRow, column: string): bigint | undefined {
    const schedule = row[column] as { tag: string; value: { __timestamp_micros_since_unix_epoch__?: bigint } };
    // Only one-shot `Time` schedules are used by the module; an interval row is never due here.
    return schedule.tag === 'Time' ? schedule.value.__timestamp_micros_since_unix_epoch__ : undefined;
  }

  /**
   * Runs every scheduled reducer whose time has come (by the injected clock), each in its own
   * transaction that also deletes its schedule row. Called by the host's timer; tests call it after
   * moving their clock. Returns all committed changes.
   */
  runDueSchedules(): BusRowChange[] {
    this.#assertOpen();
    const all: BusRowChange[] = [];
    const nowMicros = BigInt(Math.floor(this.#now())) * 1_000n;
    for (const [tableName, reducerName] of Object.entries(scheduleCatalog)) {
      const table = this.#tables.get(tableName)!;
      const column = table.description.scheduleAtColumn!;
      const key = table.description.primaryKey[0]!;
      const definition = reducerCatalog[reducerName] as ReducerDefinition;
      const argumentName = Object.keys(definition.params)[0]!;
      const due = table
        .all()
        .filter((row) => {
          const at = this.#dueMicros(row, column);
          return at !== undefined && at <= nowMicros;
        })
        .sort((a, b) => Number(this.#dueMicros(a, column)! - this.#dueMicros(b, column)!));
      for (const row of due) {
        try {
          all.push(
            ...this.#execute(DATABASE_IDENTITY_HEX, reducerName, definition, { [argumentName]: row }, () => {
              table.deleteWhere(key, row[key]);
            }),
          );
        } catch (error) {
          // A failing scheduled run must not retry forever: drop its row, keep the failure in the log.
          this.#logger.warn(
            { err: error, table: tableName, reducer: reducerName },
            'scheduled reducer failed; its schedule row is dropped',
          );
          const changes = this.#transaction(() => {
            table.deleteWhere(key, row[key]);
          });
          this.#notify(this.#toPublicChanges(changes));
        }
      }
    }
    this.#armTimer();
    return all;
  }

  #armTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#closed) return;
    let earliest: bigint | undefined;
    for (const tableName of Object.keys(scheduleCatalog)) {
      const table = this.#tables.get(tableName)!;
      for (const row of table.all()) {
        const at = this.#dueMicros(row, table.description.scheduleAtColumn!);
        if (at !== undefined && (earliest === undefined || at < earliest)) earliest = at;
      }
    }
    if (earliest === undefined) return;
    const delay = Math.min(MAX_TIMER_DELAY_MS, Math.max(0, Number(earliest / 1_000n) - this.#now()));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#closed) return;
      try {
        this.runDueSchedules();
      } catch (error) {
        this.#logger.error({ err: error }, 'running scheduled reducers failed');
        this.#armTimer();
      }
    }, delay);
    this.#timer.unref();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#listeners.clear();
    this.#database.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
