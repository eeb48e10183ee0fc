import { describeTables, viewCatalog } from '@clawfleet/db-module';
import {
  type BusQueryColumn,
  type BusRowChange,
  busQueryMatches,
  ClawError,
  describeValue,
  type Logger,
  type ParsedBusQuery,
  parseBusQuery,
  silentLogger,
  typeBusQuery,
} from '@clawfleet/protocol';
import {
  type AlgebraicType,
  type ErrorContextInterface,
  type EventContextInterface,
  type LogLevel,
  type SubscriptionHandleImpl,
  setGlobalLogLevel,
} from 'spacetimedb';
import type {
  BusCacheView,
  BusClient,
  BusQuery,
  BusReducerName,
  BusReducers,
  BusRow,
  BusSubscription,
  BusTableName,
  BusTables,
  CallReducerOptions,
  QueriesTables,
  ReducerArgs,
  RowCallbacks,
  SubscribeOptions,
  SubscriptionCallbacks,
} from '../bus-client.ts';
import { createBusReducers } from '../bus-reducers.ts';
import { RowCache } from '../cache/row-cache.ts';
import { SubscriptionRows } from '../cache/subscription-rows.ts';
import { normalizeQueries } from '../query-list.ts';
import { type ClawfleetModule, DbConnection, REMOTE_MODULE } from './bindings/index.ts';
import { checkServer } from './server-check.ts';
import { argsToSdk, type ProductElement, rowFromSdk } from './value-conversion.ts';

export interface SpacetimeDbBusClientOptions {
  /** The server, e.g. `ws://localhost:3000` (http(s) URLs are accepted too). */
  uri: string;
  /** The database name or address the module was published as. */
  databaseName: string;
  /** A label for logs; SpacetimeDB knows a client only by its identity. */
  name: string;
  /** Token of an existing identity; without it the server mints a new identity. */
  token?: string;
  logger?: Logger;
  /** How long the first connection may take. @default 10000 */
  connectTimeoutMs?: number;
  /** Reconnect after the connection drops, with the saved token; re-subscribe and reconcile. @default true */
  reconnect?: boolean;
  /** First wait before a reconnect attempt, doubled after each failed one. @default 100 */
  reconnectDelayMs?: number;
  /** Longest wait between reconnect attempts. @default 5000 */
  maxReconnectDelayMs?: number;
  /**
   * The SDK's own console logging level. The SDK writes to the console at a process-wide level (its
   * default, `info`, logs every connect); agents log JSON lines to stdout, which SDK lines would break.
   * Our logger reports connects, drops and reconnects itself. @default 'warn'
   */
  sdkLogLevel?: LogLevel;
  signal?: AbortSignal;
}

type Connection = DbConnection;
type SdkRow = Record<string, unknown>;
type SdkEventContext = EventContextInterface<ClawfleetModule>;

interface TableInfo {
  accessor: string;
  elements: ProductElement[];
  columns: BusQueryColumn[];
}
interface ReducerInfo {
  paramsType: AlgebraicType | { elements: ProductElement[] };
}

function moduleTables(): Map<string, TableInfo> {
  const tables = new Map<string, TableInfo>();
  for (const table of Object.values(REMOTE_MODULE.tables)) {
    const elements = table.rowType.elements as ProductElement[];
    tables.set(table.sourceName, {
      accessor: table.accessorName,
      elements,
      columns: elements.map((element) => ({ name: String(element.name), type: element.algebraicType })),
    });
  }
  return tables;
}

function moduleReducers(): Map<string, ReducerInfo> {
  const reducers = new Map<string, ReducerInfo>();
  for (const reducer of REMOTE_MODULE.reducers) {
    reducers.set(reducer.name, { paramsType: reducer.paramsType as ReducerInfo['paramsType'] });
  }
  return reducers;
}

type SubscriptionState = 'pending' | 'active' | 'ended';

/**
 * One subscription over SpacetimeDB. It holds its own rows (as the embedded client's subscriptions do)
 * in the client's reference-counted cache, so callbacks mean the same on both hosts: the initial rows
 * fire onInsert before onApplied, an update that leaves the queries fires onDelete, and after a
 * reconnect the new snapshot is reconciled by primary key with the rows held before (vanished rows fire
 * onDelete, new ones onInsert, changed ones onUpdate), then onApplied fires again.
 */
class SpacetimeDbSubscription implements BusSubscription {
  readonly queries: readonly string[];
  readonly ready: Promise<void>;
  readonly rows: SubscriptionRows;
  readonly callbacks: RowCallbacks;
  /** The queries, typed against their tables' columns; undefined when the query was refused. */
  readonly typed: readonly ParsedBusQuery[];
  state: SubscriptionState = 'pending';
  handle: SubscriptionHandleImpl<ClawfleetModule> | undefined;
  readonly #client: SpacetimeDbBusClient;
  #settle: { resolve: () => void; reject: (error: ClawError) => void } | undefined;

  constructor(
    client: SpacetimeDbBusClient,
    queries: readonly string[],
    typed: readonly ParsedBusQuery[],
    cache: RowCache,
    callbacks: RowCallbacks,
  ) {
    this.#client = client;
    this.queries = queries;
    this.typed = typed;
    this.callbacks = callbacks;
    this.rows = new SubscriptionRows(cache);
    this.ready = new Promise<void>((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
    // The caller may rely on onError instead of awaiting `ready`; never let it become an unhandled rejection.
    this.ready.catch(() => {});
  }

  get active(): boolean {
    return this.state === 'active';
  }

  selects(table: string, row: BusRow): boolean {
    return this.typed.some((query) => busQueryMatches(query, table, row));
  }

  applied(): void {
    this.state = 'active';
    this.#settle?.resolve();
    this.#settle = undefined;
  }

  /** Ends the subscription: its rows leave the cache, a pending `ready` rejects with `reason`. */
  end(reason: ClawError, notify: boolean): void {
    if (this.state === 'ended') return;
    this.state = 'ended';
    this.rows.release();
    const handle = this.handle;
    this.handle = undefined;
    try {
      if (handle?.isActive()) handle.unsubscribe();
    } catch (error) {
      // The connection is gone: the server forgets its subscriptions by itself.
      this.#client.logger.debug({ err: error }, 'unsubscribe failed');
    }
    this.#settle?.reject(reason);
    this.#settle = undefined;
    if (notify) this.callbacks.onError?.(reason);
  }

  async dispose(): Promise<void> {
    this.end(new ClawError('CANCELLED', 'The subscription was disposed'), false);
    this.#client.forget(this);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}

/**
 * The bus client over a SpacetimeDB server, through the official SDK. Rows and reducer arguments use
 * the bus convention (see BusRow); conversion follows the module's column and parameter types.
 *
 * It behaves as `EmbeddedBusClient` does, so an agent cannot tell the hosts apart: the cache is the
 * union of the subscriptions' rows; a dropped connection rejects the calls in flight and new ones with
 * CONNECTION_CLOSED (retryable: a call may or may not have committed), reconnects with backoff as the
 * same identity (the saved token), re-subscribes and reconciles every live subscription. The server
 * decides private-table access (clients subscribe to the views in `viewCatalog`).
 */
export class SpacetimeDbBusClient implements BusClient {
  readonly name: string;
  readonly logger: Logger;
  readonly reducers: BusReducers = createBusReducers((reducer, args, options) =>
    this.callReducer(reducer, args, options),
  );
  readonly #options: SpacetimeDbBusClientOptions;
  readonly #tables = moduleTables();
  readonly #reducers = moduleReducers();
  readonly #cache = new RowCache();
  readonly #subscriptions = new Set<SpacetimeDbSubscription>();
  /** Rejects a call in flight: every pending call is rejected when the connection drops. */
  readonly #pending = new Set<(error: ClawError) => void>();
  #identity = '';
  #token: string | undefined;
  #connection: Connection | undefined;
  #connected = false;
  #disposed = false;
  #reconnectTimer: NodeJS.Timeout | undefined;

  private constructor(options: SpacetimeDbBusClientOptions, logger: Logger) {
    this.#options = options;
    this.name = options.name;
    this.#token = options.token;
    this.logger = logger;
  }

  /** This client's identity (lowercase hex); the same after a reconnect, which uses the saved token. */
  get identity(): string {
    return this.#identity;
  }

  /** The token of this identity: keep it to connect again as the same identity. */
  get token(): string {
    return this.#token ?? '';
  }

  /** Whether the connection is up now (false while reconnecting). */
  get connected(): boolean {
    return this.#connected;
  }

  static async connect(options: SpacetimeDbBusClientOptions): Promise<SpacetimeDbBusClient> {
    for (const key of ['uri', 'databaseName', 'name'] as const) {
      if (typeof options[key] !== 'string' || options[key].length === 0) {
        throw new ClawError(
          'CONFIG_INVALID',
          `Expected \`${key}\` to be a non-empty string, got ${describeValue(options[key])}`,
        );
      }
    }
    const logger = (options.logger ?? silentLogger).child({ component: 'spacetimedb-bus-client', agent: options.name });
    options.signal?.throwIfAborted();
    setGlobalLogLevel(options.sdkLogLevel ?? 'warn');
    const client = new SpacetimeDbBusClient(options, logger);
    await client.#open(options.connectTimeoutMs ?? 10_000, options.signal);
    return client;
  }

  get cache(): BusCacheView {
    return this.#cache.view;
  }

  rows<Table extends BusTableName>(table: Table): readonly BusTables[Table][] {
    return this.#cache.rows(table) as unknown as readonly BusTables[Table][];
  }

  async callReducer<Reducer extends BusReducerName>(
    reducer: Reducer,
    args: ReducerArgs<Reducer>,
    options: CallReducerOptions = {},
  ): Promise<void> {
    this.#checkOpen();
    if (options.signal?.aborted) throw new ClawError('CANCELLED', 'The call was cancelled before it was sent');
    if (typeof reducer !== 'string' || reducer.length === 0) {
      throw new ClawError('INVALID_PARAMS', `Expected \`reducer\` to be a reducer name, got ${describeValue(reducer)}`);
    }
    const info = this.#reducers.get(reducer);
    if (!info) throw new ClawError('UNKNOWN_REDUCER', `No reducer named ${describeValue(reducer)}`);
    if (typeof args !== 'object' || args === null || Array.isArray(args)) {
      throw new ClawError('INVALID_PARAMS', `Expected \`args\` to be an object, got ${describeValue(args)}`);
    }
    const sdkArgs = argsToSdk(info.paramsType, args);
    const connection = this.#connection;
    if (!this.#connected || connection === undefined) {
      throw new ClawError('CONNECTION_CLOSED', 'Not connected to SpacetimeDB (reconnecting); the call was not sent');
    }
    const signal = options.signal;
    await new Promise<void>((resolve, reject) => {
      let done = false;
      const settle = (outcome: () => void): void => {
        if (done) return;
        done = true;
        this.#pending.delete(fail);
        signal?.removeEventListener('abort', onAbort);
        outcome();
      };
      const fail = (error: ClawError): void => settle(() => reject(error));
      // A sent reducer call cannot be withdrawn: the signal only stops the wait (the call may still commit).
      const onAbort = (): void =>
        fail(new ClawError('CANCELLED', 'Stopped waiting for the reducer; it may still commit'));
      this.#pending.add(fail);
      signal?.addEventListener('abort', onAbort, { once: true });
      connection.callReducerWithParams(reducer, info.paramsType as never, sdkArgs).then(
        () => settle(resolve),
        (error: unknown) => fail(reducerError(error)),
      );
    });
  }

  subscribe<const Queries extends BusQuery | readonly BusQuery[]>(
    queries: Queries,
    callbacks: SubscriptionCallbacks<QueriesTables<Queries>> = {},
    options: SubscribeOptions = {},
  ): BusSubscription {
    this.#checkOpen();
    const list = normalizeQueries(queries);
    // Parse here, so a malformed query fails in the caller's stack, as on the embedded client.
    const parsed = list.map((query) => parseBusQuery(query));
    // What the host decides (tables, column types) arrives as onError / a rejected `ready`, as from
    // the embedded host; the same rules, so the same message on both hosts.
    let refusal: ClawError | undefined;
    const typed: ParsedBusQuery[] = [];
    for (const query of parsed) {
      const info = this.#tables.get(query.table);
      try {
        if (!info) {
          throw new ClawError(
            'SUBSCRIPTION_INVALID',
            `Unknown table \`${query.table}\` in \`${query.text.slice(0, 200)}\``,
            {
              details: { table: query.table },
            },
          );
        }
        typed.push(typeBusQuery(query, info.columns));
      } catch (error) {
        refusal = ClawError.from(error);
        break;
      }
    }
    const subscription = new SpacetimeDbSubscription(this, list, typed, this.#cache, callbacks as RowCallbacks);
    this.#subscriptions.add(subscription);
    if (options.signal) {
      if (options.signal.aborted) {
        void subscription.dispose();
        return subscription;
      }
      options.signal.addEventListener('abort', () => void subscription.dispose(), { once: true });
    }
    if (refusal) {
      const error = refusal;
      queueMicrotask(() => {
        this.#subscriptions.delete(subscription);
        subscription.end(error, true);
      });
    } else if (this.#connected && this.#connection) {
      this.#start(subscription, this.#connection);
    }
    return subscription;
  }

  /** @internal Called by a disposed subscription. */
  forget(subscription: SpacetimeDbSubscription): void {
    this.#subscriptions.delete(subscription);
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    clearTimeout(this.#reconnectTimer);
    const closed = new ClawError('CONNECTION_CLOSED', 'The bus client was disposed', { retryable: false });
    for (const subscription of this.#subscriptions) subscription.end(closed, false);
    this.#subscriptions.clear();
    for (const fail of [...this.#pending]) fail(closed);
    this.#cache.clear();
    this.#connected = false;
    this.#connection?.disconnect();
    this.#connection = undefined;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  #checkOpen(): void {
    if (this.#disposed) throw new ClawError('CONNECTION_CLOSED', 'The bus client was disposed', { retryable: false });
  }

  /**
   * Opens a connection with the saved token (none the first time without one) and makes it current.
   * The server is asked `/v1/ping` first: on Node 20 a refused WebSocket can fail before the SDK
   * listens for the error, which would leave only the timeout to report it.
   */
  async #open(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const { uri, databaseName } = this.#options;
    await checkServer(uri, timeoutMs, signal);
    const connection = await new Promise<Connection>((resolve, reject) => {
      let settled = false;
      let built: Connection | undefined;
      const finish = (error: ClawError | undefined, value?: Connection): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (error) {
          built?.disconnect();
          reject(error);
        } else resolve(value as Connection);
      };
      const timer = setTimeout(
        () => finish(new ClawError('CONNECT_FAILED', `No connection to ${uri} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const onAbort = (): void => finish(new ClawError('CANCELLED', 'Connecting was cancelled'));
      signal?.addEventListener('abort', onAbort, { once: true });
      built = DbConnection.builder()
        .withUri(uri)
        .withDatabaseName(databaseName)
        .withToken(this.#token)
        .onConnect((connection, identity, token) => {
          const hex = identity.toHexString().toLowerCase();
          if (this.#identity !== '' && hex !== this.#identity) {
            this.logger.error({ was: this.#identity, now: hex }, 'reconnected as another identity');
          }
          this.#identity = hex;
          this.#token = token;
          finish(undefined, connection);
        })
        .onConnectError((_context: ErrorContextInterface<ClawfleetModule>, error: Error) =>
          finish(new ClawError('CONNECT_FAILED', `Could not connect to ${uri}: ${error.message}`, { cause: error })),
        )
        .onDisconnect((_context: ErrorContextInterface<ClawfleetModule>, error?: Error) => {
          if (!settled) {
            finish(new ClawError('CONNECT_FAILED', `${uri} closed the connection while connecting`, { cause: error }));
            return;
          }
          if (built) this.#lost(built, error);
        })
        .build();
    });
    if (this.#disposed) {
      connection.disconnect();
      throw new ClawError('CONNECTION_CLOSED', 'The bus client was disposed', { retryable: false });
    }
    this.#connection = connection;
    this.#connected = true;
    this.#listen(connection);
    for (const subscription of this.#subscriptions) {
      if (subscription.state !== 'ended') this.#start(subscription, connection);
    }
  }

  /** Routes the SDK's row callbacks of one connection to the subscriptions that select each row. */
  #listen(connection: Connection): void {
    for (const [table, info] of this.#tables) {
      const handle = connection.db[info.accessor];
      if (!handle) continue;
      const toRow = (row: SdkRow): BusRow => rowFromSdk(info.elements, row);
      // Rows that arrive with a subscription's snapshot (or leave with its end) are the subscription's
      // business (`#applied`, `end`), not changes to report.
      const isChange = (context: SdkEventContext): boolean =>
        context.event.tag !== 'SubscribeApplied' && context.event.tag !== 'UnsubscribeApplied';
      handle.onInsert((context: SdkEventContext, row: SdkRow) => {
        if (connection === this.#connection && isChange(context)) this.#route({ table, op: 'insert', row: toRow(row) });
      });
      handle.onDelete((context: SdkEventContext, row: SdkRow) => {
        if (connection === this.#connection && isChange(context)) this.#route({ table, op: 'delete', row: toRow(row) });
      });
      handle.onUpdate?.((context: SdkEventContext, oldRow: SdkRow, newRow: SdkRow) => {
        if (connection === this.#connection && isChange(context)) {
          this.#route({ table, op: 'update', row: toRow(newRow), oldRow: toRow(oldRow) });
        }
      });
    }
  }

  #route(change: BusRowChange): void {
    for (const subscription of this.#subscriptions) {
      if (subscription.state !== 'active') continue;
      const seen = viewOf(subscription, change);
      if (!seen) continue;
      try {
        subscription.rows.apply([seen], subscription.callbacks);
      } catch (error) {
        this.logger.error({ err: error }, 'subscription callback threw');
      }
    }
  }

  #start(subscription: SpacetimeDbSubscription, connection: Connection): void {
    subscription.handle = connection
      .subscriptionBuilder()
      .onApplied(() => this.#applied(subscription, connection))
      .onError((context: ErrorContextInterface<ClawfleetModule>) => {
        if (connection !== this.#connection) return;
        const reason = context.event?.message ?? 'no reason given';
        this.#subscriptions.delete(subscription);
        // A private table is the usual cause: say which view to use, in the embedded host's words.
        const hint = privateTableHint(subscription.typed);
        subscription.end(
          new ClawError(
            'SUBSCRIPTION_INVALID',
            `${hint ? `${hint.message} (` : ''}SpacetimeDB refused or ended the subscription: ${reason}${hint ? ')' : ''}`,
            {
              details: {
                queries: subscription.queries.map((query) => query.slice(0, 200)),
                ...(hint ? { table: hint.table, view: hint.view } : {}),
              },
            },
          ),
          true,
        );
      })
      .subscribe([...subscription.queries]);
  }

  /** The subscription's snapshot is in the SDK cache: reconcile its rows with it, then report it applied. */
  #applied(subscription: SpacetimeDbSubscription, connection: Connection): void {
    if (subscription.state === 'ended' || connection !== this.#connection) return;
    const snapshot: { table: string; rows: BusRow[] }[] = [];
    for (const table of new Set(subscription.typed.map((query) => query.table))) {
      const info = this.#tables.get(table);
      const handle = info ? connection.db[info.accessor] : undefined;
      if (!info || !handle) continue;
      const rows = [...handle.iter()]
        .map((row) => rowFromSdk(info.elements, row as SdkRow))
        .filter((row) => subscription.selects(table, row));
      snapshot.push({ table, rows });
    }
    try {
      subscription.rows.reconcile(snapshot, subscription.callbacks);
    } catch (error) {
      this.logger.error({ err: error }, 'subscription callback threw');
    }
    subscription.applied();
    try {
      subscription.callbacks.onApplied?.();
    } catch (error) {
      this.logger.error({ err: error }, 'subscription callback threw');
    }
  }

  /** The current connection dropped: fail what waits on it, then reconnect (or end everything). */
  #lost(connection: Connection, error: Error | undefined): void {
    if (connection !== this.#connection || this.#disposed) return;
    this.logger.warn({ err: error }, 'disconnected from SpacetimeDB');
    this.#connected = false;
    this.#connection = undefined;
    const closed = new ClawError(
      'CONNECTION_CLOSED',
      'The connection to SpacetimeDB dropped; the call may or may not have committed',
      { cause: error },
    );
    for (const fail of [...this.#pending]) fail(closed);
    for (const subscription of this.#subscriptions) {
      subscription.handle = undefined;
      if (subscription.state === 'active') subscription.state = 'pending';
    }
    if (this.#options.reconnect === false) {
      // Without reconnecting, no subscription will hear from the host again: say so.
      for (const subscription of this.#subscriptions) subscription.end(closed, true);
      this.#subscriptions.clear();
      return;
    }
    this.#scheduleReconnect(this.#options.reconnectDelayMs ?? 100);
  }

  #scheduleReconnect(delayMs: number): void {
    if (this.#disposed) return;
    const maxDelay = this.#options.maxReconnectDelayMs ?? 5_000;
    this.#reconnectTimer = setTimeout(() => {
      this.#open(this.#options.connectTimeoutMs ?? 10_000).then(
        () => this.logger.info({}, 'reconnected to SpacetimeDB'),
        (error: unknown) => {
          if (this.#disposed) return;
          this.logger.debug({ err: error }, 'reconnect attempt failed');
          this.#scheduleReconnect(Math.min(delayMs * 2, maxDelay));
        },
      );
    }, delayMs);
    this.#reconnectTimer.unref?.();
  }
}

let privateTables: Map<string, string | undefined> | undefined;

/** For a query on a private table that has a view: the embedded host's refusal text, naming the view. */
function privateTableHint(
  queries: readonly ParsedBusQuery[],
): { table: string; view: string; message: string } | undefined {
  if (!privateTables) {
    privateTables = new Map();
    for (const table of describeTables()) {
      if (table.isPublic) continue;
      const view = Object.entries(viewCatalog).find(([, source]) => source === table.name)?.[0];
      privateTables.set(table.name, view);
    }
  }
  for (const query of queries) {
    const view = privateTables.get(query.table);
    if (view !== undefined) {
      return {
        table: query.table,
        view,
        message: `Table \`${query.table}\` is private; subscribe to \`${view}\`, which shows the rows you may see`,
      };
    }
  }
  return undefined;
}

/** What one subscription sees of a row change: an update crossing its queries is an insert or a delete. */
function viewOf(subscription: SpacetimeDbSubscription, change: BusRowChange): BusRowChange | undefined {
  const { table, op, row } = change;
  if (op !== 'update') return subscription.selects(table, row) ? change : undefined;
  const oldRow = change.oldRow ?? row;
  const before = subscription.selects(table, oldRow);
  const after = subscription.selects(table, row);
  if (before && after) return change;
  if (before) return { table, op: 'delete', row: oldRow };
  if (after) return { table, op: 'insert', row };
  return undefined;
}

/** The SDK rejects a refused call with its SenderError and a host failure with InternalError. */
function reducerError(error: unknown): ClawError {
  if (error instanceof ClawError) return error;
  const name = error instanceof Error ? error.name : '';
  const message = error instanceof Error ? error.message : String(error);
  if (name === 'SenderError') return new ClawError('REDUCER_REJECTED', message, { cause: error });
  return new ClawError('INTERNAL', `SpacetimeDB failed the call: ${message}`, { cause: error });
}
