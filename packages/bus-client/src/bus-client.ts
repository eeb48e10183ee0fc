import type { BusTables, ReducerArguments } from '@clawfleet/db-module';
import type { ClawError } from '@clawfleet/protocol';

export type { BusTables, ReducerArguments };

/** Every table and view a client may subscribe to (db-module's generated `BusTables`). */
export type BusTableName = keyof BusTables & string;

/**
 * A row of `Table` as every bus client shows it, whichever host it talks to: identities as lowercase
 * hex strings, timestamps as microseconds since the epoch, 64-bit integers as numbers when within
 * +-2^53 and bigints beyond, absent optional values as `null`. Column names are the schema's.
 */
export type BusRowOf<Table extends BusTableName> = BusTables[Table];

/** A row of any table, when the table is not known statically. */
export type BusRow = Readonly<Record<string, unknown>>;

/** Every reducer a client may call, by its schema name (`claim_task`). */
export type BusReducerName = keyof ReducerArguments & string;

/** The arguments of `Reducer`; an option argument may be left out or `null`. */
export type ReducerArgs<Reducer extends BusReducerName> = ReducerArguments[Reducer];

/** `claim_task` -> `claimTask`. */
export type CamelCase<Name extends string> = Name extends `${infer Head}_${infer Tail}`
  ? `${Head}${Capitalize<CamelCase<Tail>>}`
  : Name;

/** One method per client reducer: `bus.reducers.claimTask({ task_id, lease_seconds })`. */
export type BusReducers = {
  readonly [Reducer in BusReducerName as CamelCase<Reducer>]: (
    args: ReducerArguments[Reducer],
    options?: CallReducerOptions,
  ) => Promise<void>;
};

/**
 * The queries `subscribe` takes: `SELECT * FROM table [WHERE column = literal [AND ...]]` on a table a
 * client may subscribe to. A template literal with values in its WHERE clause has this type too.
 */
export type BusQuery = `SELECT * FROM ${BusTableName}` | `SELECT * FROM ${BusTableName} WHERE ${string}`;

/** The table a query reads. */
export type QueryTable<Query extends string> = Query extends `SELECT * FROM ${infer Rest}`
  ? Rest extends `${infer Table} WHERE ${string}`
    ? Extract<Table, BusTableName>
    : Extract<Rest, BusTableName>
  : never;

/** The tables a query or list of queries reads. */
export type QueriesTables<Queries extends BusQuery | readonly BusQuery[]> = Queries extends readonly BusQuery[]
  ? QueryTable<Queries[number]>
  : Queries extends BusQuery
    ? QueryTable<Queries>
    : never;

/** `[row, table]` for each table: narrowing `table` narrows `row`. */
type RowArguments<Table extends BusTableName> = { [Name in Table]: [row: BusTables[Name], table: Name] }[Table];
type UpdateArguments<Table extends BusTableName> = {
  [Name in Table]: [oldRow: BusTables[Name], newRow: BusTables[Name], table: Name];
}[Table];

/**
 * Row callbacks of one subscription. They fire only for rows the subscription selects, once per row
 * change, after the client cache reflects the change. The initial rows fire `onInsert`, then
 * `onApplied`. An update that moves a row out of the subscription's queries fires `onDelete`.
 * Rows are typed by the tables the queries read; with several tables, check `table` to narrow `row`.
 */
export interface SubscriptionCallbacks<Table extends BusTableName = BusTableName> {
  onInsert?: (...args: RowArguments<Table>) => void;
  onUpdate?: (...args: UpdateArguments<Table>) => void;
  onDelete?: (...args: RowArguments<Table>) => void;
  /** The initial rows are in the cache; later changes follow as callbacks. Fires again after a reconnect. */
  onApplied?: () => void;
  /** The subscription was refused or ended by the host; it is inactive afterwards. */
  onError?: (error: ClawError) => void;
}

/** What the implementations call: the callbacks without their per-table typing. */
export interface RowCallbacks {
  onInsert?: (row: BusRow, table: string) => void;
  onUpdate?: (oldRow: BusRow, newRow: BusRow, table: string) => void;
  onDelete?: (row: BusRow, table: string) => void;
  onApplied?: () => void;
  onError?: (error: ClawError) => void;
}

export interface SubscribeOptions {
  /** Aborting it ends the subscription, as `dispose()` does. */
  signal?: AbortSignal;
}

/** A live subscription. Disposing it removes its rows from the cache (without firing callbacks). */
export interface BusSubscription extends AsyncDisposable {
  readonly queries: readonly string[];
  /** Resolves once the initial rows are applied; rejects with the host's ClawError (e.g. SUBSCRIPTION_INVALID). */
  readonly ready: Promise<void>;
  /** True from applied until disposed or failed. */
  readonly active: boolean;
  dispose(): Promise<void>;
}

export interface CallReducerOptions {
  signal?: AbortSignal;
}

/**
 * Read access to the client cache by table name: `cache.task` is the same as `rows('task')`. The arrays
 * are shared and frozen, and stay the same object until the table's rows change.
 */
export type BusCacheView = { readonly [Table in BusTableName]: readonly BusTables[Table][] };

/**
 * One client interface to the database, implemented over the embedded bus (IPC) and over
 * SpacetimeDB. Writes are reducer calls; reads come from the client cache, which holds exactly the
 * rows of the active subscriptions. Reducer names, arguments, tables and row fields are typed from
 * db-module's definitions: a wrong one is a compile error.
 */
export interface BusClient extends AsyncDisposable {
  /** The name this client authenticated as (embedded) or was given (SpacetimeDB). */
  readonly name: string;
  /** This client's database identity, lowercase hex. */
  readonly identity: string;
  /**
   * The reducers as methods: `await bus.reducers.claimTask({ task_id: 1, lease_seconds: 60 })`. Each
   * resolves after the transaction committed and its changes reached this client's cache; rejects with
   * ClawError REDUCER_REJECTED (with the reducer's message), INVALID_PARAMS, CONNECTION_CLOSED, CANCELLED.
   */
  readonly reducers: BusReducers;
  /** The same call by schema name, for code that picks the reducer at run time. */
  callReducer<Reducer extends BusReducerName>(
    reducer: Reducer,
    args: ReducerArgs<Reducer>,
    options?: CallReducerOptions,
  ): Promise<void>;
  /** Subscribes to `SELECT * FROM table [WHERE column = literal [AND ...]]` queries. */
  subscribe<const Queries extends BusQuery | readonly BusQuery[]>(
    queries: Queries,
    callbacks?: SubscriptionCallbacks<QueriesTables<Queries>>,
    options?: SubscribeOptions,
  ): BusSubscription;
  /** The cached rows of a table (shared and frozen; the same array until the table changes). */
  rows<Table extends BusTableName>(table: Table): readonly BusTables[Table][];
  readonly cache: BusCacheView;
  /** Ends every subscription and closes the connection. */
  dispose(): Promise<void>;
}
