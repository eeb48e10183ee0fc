import {
  type BusRowChange,
  busQueryMatches,
  ClawError,
  describeValue,
  type Logger,
  type ParsedBusQuery,
  parseBusQuery,
  silentLogger,
} from '@clawfleet/protocol';
import type { AlgebraicType } from 'spacetimedb';
import type {
  BusCacheView,
  BusClient,
  BusRow,
  BusSubscription,
  CallReducerOptions,
  SubscribeOptions,
  SubscriptionCallbacks,
} from '../bus-client.ts';
import { normalizeQueries } from '../query-list.ts';
import { DbConnection, REMOTE_MODULE } from './bindings/index.ts';
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
  /** @default 10000 */
  connectTimeoutMs?: number;
  signal?: AbortSignal;
}

// Narrow views of the SDK objects this client touches; the SDK's own generic types need the
// generated module types, which hand-built bindings do not carry.
interface SdkTableHandle {
  iter(): Iterable<Record<string, unknown>>;
  onInsert(callback: (context: unknown, row: Record<string, unknown>) => void): void;
  removeOnInsert(callback: (context: unknown, row: Record<string, unknown>) => void): void;
  onDelete(callback: (context: unknown, row: Record<string, unknown>) => void): void;
  removeOnDelete(callback: (context: unknown, row: Record<string, unknown>) => void): void;
  onUpdate?(
    callback: (context: unknown, oldRow: Record<string, unknown>, newRow: Record<string, unknown>) => void,
  ): void;
  removeOnUpdate?(
    callback: (context: unknown, oldRow: Record<string, unknown>, newRow: Record<string, unknown>) => void,
  ): void;
}
interface SdkSubscriptionHandle {
  unsubscribe(): void;
  isEnded(): boolean;
}
interface SdkSubscriptionBuilder {
  onApplied(callback: (context: unknown) => void): SdkSubscriptionBuilder;
  onError(callback: (context: { event?: Error }) => void): SdkSubscriptionBuilder;
  subscribe(queries: string[]): SdkSubscriptionHandle;
}
interface SdkConnection {
  db: Record<string, SdkTableHandle>;
  subscriptionBuilder(): SdkSubscriptionBuilder;
  callReducerWithParams(reducer: string, paramsType: unknown, params: object): Promise<void>;
  disconnect(): void;
}
interface SdkConnectionBuilder {
  withUri(uri: string): SdkConnectionBuilder;
  withDatabaseName(name: string): SdkConnectionBuilder;
  withToken(token?: string): SdkConnectionBuilder;
  onConnect(
    callback: (connection: unknown, identity: { toHexString(): string }, token: string) => void,
  ): SdkConnectionBuilder;
  onConnectError(callback: (context: unknown, error: Error) => void): SdkConnectionBuilder;
  onDisconnect(callback: (context: unknown, error?: Error) => void): SdkConnectionBuilder;
  build(): SdkConnection;
}
interface TableInfo {
  accessor: string;
  elements: ProductElement[];
}
interface ReducerInfo {
  paramsType: AlgebraicType | { elements: ProductElement[] };
}

function moduleTables(): Map<string, TableInfo> {
  const tables = new Map<string, TableInfo>();
  const remote = REMOTE_MODULE as unknown as {
    tables: Record<string, { sourceName: string; accessorName: string; rowType: { elements: ProductElement[] } }>;
  };
  for (const table of Object.values(remote.tables)) {
    tables.set(table.sourceName, { accessor: table.accessorName, elements: table.rowType.elements });
  }
  return tables;
}

function moduleReducers(): Map<string, ReducerInfo> {
  const reducers = new Map<string, ReducerInfo>();
  const remote = REMOTE_MODULE as unknown as { reducers: { name: string; paramsType: ReducerInfo['paramsType'] }[] };
  for (const reducer of remote.reducers) reducers.set(reducer.name, { paramsType: reducer.paramsType });
  return reducers;
}

/**
 * A subscription over SpacetimeDB. The SDK's row callbacks are per table; each subscription
 * registers its own and keeps the rows its queries select, so callbacks have the same meaning as
 * on the embedded bus: initial rows fire onInsert before onApplied (also rows an earlier
 * subscription already cached), and an update that leaves the queries fires onDelete.
 */
class SpacetimeDbSubscription implements BusSubscription {
  readonly queries: readonly string[];
  readonly ready: Promise<void>;
  #active = false;
  #ended = false;
  #handle: SdkSubscriptionHandle | undefined;
  readonly #parsed: ParsedBusQuery[];
  readonly #callbacks: SubscriptionCallbacks;
  readonly #client: SpacetimeDbBusClient;
  readonly #listeners: (() => void)[] = [];
  #settle: { resolve: () => void; reject: (error: ClawError) => void } | undefined;

  constructor(
    client: SpacetimeDbBusClient,
    queries: string[],
    parsed: ParsedBusQuery[],
    callbacks: SubscriptionCallbacks,
  ) {
    this.#client = client;
    this.queries = queries;
    this.#parsed = parsed;
    this.#callbacks = callbacks;
    this.ready = new Promise<void>((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
    this.ready.catch(() => {});
  }

  get active(): boolean {
    return this.#active;
  }

  start(connection: SdkConnection, tables: Map<string, TableInfo>): void {
    for (const table of new Set(this.#parsed.map((query) => query.table))) {
      const info = tables.get(table);
      if (!info) continue;
      this.#listen(connection.db[info.accessor], table, info);
    }
    this.#handle = connection
      .subscriptionBuilder()
      .onApplied(() => this.#applied(tables))
      .onError((context) => {
        const error = new ClawError(
          'SUBSCRIPTION_INVALID',
          `SpacetimeDB refused or ended the subscription: ${context.event?.message ?? 'no reason given'}`,
          { details: { queries: this.queries.map((query) => query.slice(0, 200)) } },
        );
        this.end(error, true);
      })
      .subscribe([...this.queries]);
  }

  #selects(table: string, row: BusRow): boolean {
    return this.#parsed.some((query) => busQueryMatches(query, table, row));
  }

  #listen(handle: SdkTableHandle | undefined, table: string, info: TableInfo): void {
    if (!handle) return;
    const toRow = (row: Record<string, unknown>): BusRow => rowFromSdk(info.elements, row);
    const onInsert = (_context: unknown, sdkRow: Record<string, unknown>): void => {
      if (!this.#active) return;
      const row = toRow(sdkRow);
      if (this.#selects(table, row)) this.#emit({ table, op: 'insert', row });
    };
    const onDelete = (_context: unknown, sdkRow: Record<string, unknown>): void => {
      if (!this.#active) return;
      const row = toRow(sdkRow);
      if (this.#selects(table, row)) this.#emit({ table, op: 'delete', row });
    };
    const onUpdate = (_context: unknown, sdkOld: Record<string, unknown>, sdkNew: Record<string, unknown>): void => {
      if (!this.#active) return;
      const oldRow = toRow(sdkOld);
      const row = toRow(sdkNew);
      const before = this.#selects(table, oldRow);
      const after = this.#selects(table, row);
      if (before && after) this.#emit({ table, op: 'update', row, oldRow });
      else if (before) this.#emit({ table, op: 'delete', row: oldRow });
      else if (after) this.#emit({ table, op: 'insert', row });
    };
    handle.onInsert(onInsert);
    handle.onDelete(onDelete);
    handle.onUpdate?.(onUpdate);
    this.#listeners.push(() => {
      handle.removeOnInsert(onInsert);
      handle.removeOnDelete(onDelete);
      handle.removeOnUpdate?.(onUpdate);
    });
  }

  #emit(change: BusRowChange): void {
    try {
      if (change.op === 'insert') this.#callbacks.onInsert?.(change.row, change.table);
      else if (change.op === 'delete') this.#callbacks.onDelete?.(change.row, change.table);
      else this.#callbacks.onUpdate?.(change.oldRow ?? change.row, change.row, change.table);
    } catch (error) {
      this.#client.logger.error({ err: error }, 'subscription callback threw');
    }
  }

  #applied(tables: Map<string, TableInfo>): void {
    if (this.#ended) return;
    this.#active = true;
    for (const table of new Set(this.#parsed.map((query) => query.table))) {
      if (!tables.has(table)) continue;
      for (const row of this.#client.rows(table)) {
        if (this.#selects(table, row)) this.#emit({ table, op: 'insert', row });
      }
    }
    this.#settle?.resolve();
    this.#settle = undefined;
    this.#callbacks.onApplied?.();
  }

  end(reason: ClawError, notify: boolean): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#active = false;
    for (const remove of this.#listeners.splice(0)) remove();
    try {
      if (this.#handle && !this.#handle.isEnded()) this.#handle.unsubscribe();
    } catch (error) {
      this.#client.logger.debug({ err: error }, 'unsubscribe failed');
    }
    this.#settle?.reject(reason);
    this.#settle = undefined;
    if (notify) this.#callbacks.onError?.(reason);
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
 * Differences from the embedded client: the cache is the SDK's (shared by all subscriptions of the
 * connection), the identity comes from the token, and the server decides private-table access (clients
 * subscribe to the views in `viewCatalog`).
 */
export class SpacetimeDbBusClient implements BusClient {
  readonly name: string;
  readonly identity: string;
  readonly logger: Logger;
  /** The token of this identity: keep it to reconnect as the same identity. */
  readonly token: string;
  readonly #connection: SdkConnection;
  readonly #tables: Map<string, TableInfo>;
  readonly #reducers: Map<string, ReducerInfo>;
  readonly #subscriptions = new Set<SpacetimeDbSubscription>();
  readonly cache: BusCacheView;
  #disposed = false;

  private constructor(connection: SdkConnection, name: string, identity: string, token: string, logger: Logger) {
    this.#connection = connection;
    this.name = name;
    this.identity = identity;
    this.token = token;
    this.logger = logger;
    this.#tables = moduleTables();
    this.#reducers = moduleReducers();
    this.cache = new Proxy({} as BusCacheView, {
      get: (_target, property) => (typeof property === 'string' ? this.rows(property) : undefined),
    });
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
    const timeoutMs = options.connectTimeoutMs ?? 10_000;
    options.signal?.throwIfAborted();
    let connection: SdkConnection | undefined;
    const connected = await new Promise<{ identity: string; token: string }>((resolve, reject) => {
      const timer = setTimeout(() => {
        connection?.disconnect();
        reject(new ClawError('CONNECT_FAILED', `No connection to ${options.uri} within ${timeoutMs} ms`));
      }, timeoutMs);
      const onAbort = (): void => {
        clearTimeout(timer);
        connection?.disconnect();
        reject(new ClawError('CANCELLED', 'Connecting was cancelled'));
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const builder = (DbConnection.builder() as unknown as SdkConnectionBuilder)
        .withUri(options.uri)
        .withDatabaseName(options.databaseName)
        .withToken(options.token)
        .onConnect((_connection, identity, token) => {
          clearTimeout(timer);
          options.signal?.removeEventListener('abort', onAbort);
          resolve({ identity: identity.toHexString().toLowerCase(), token });
        })
        .onConnectError((_context, error) => {
          clearTimeout(timer);
          options.signal?.removeEventListener('abort', onAbort);
          reject(
            new ClawError('CONNECT_FAILED', `Could not connect to ${options.uri}: ${error.message}`, { cause: error }),
          );
        })
        .onDisconnect((_context, error) => {
          logger.warn({ err: error }, 'disconnected from SpacetimeDB');
        });
      connection = builder.build();
    });
    return new SpacetimeDbBusClient(
      connection as SdkConnection,
      options.name,
      connected.identity,
      connected.token,
      logger,
    );
  }

  rows(table: string): BusRow[] {
    const info = this.#tables.get(table);
    const handle = info ? this.#connection.db[info.accessor] : undefined;
    if (!info || !handle) return [];
    return [...handle.iter()].map((row) => rowFromSdk(info.elements, row));
  }

  async callReducer(reducer: string, args: Record<string, unknown>, options: CallReducerOptions = {}): Promise<void> {
    if (this.#disposed) throw new ClawError('CONNECTION_CLOSED', 'The bus client was disposed', { retryable: false });
    options.signal?.throwIfAborted();
    const info = this.#reducers.get(reducer);
    if (!info) throw new ClawError('UNKNOWN_REDUCER', `No reducer named ${describeValue(reducer)}`);
    if (typeof args !== 'object' || args === null || Array.isArray(args)) {
      throw new ClawError('INVALID_PARAMS', `Expected \`args\` to be an object, got ${describeValue(args)}`);
    }
    const sdkArgs = argsToSdk(info.paramsType, args);
    const call = this.#connection.callReducerWithParams(reducer, info.paramsType, sdkArgs);
    // A sent reducer call cannot be withdrawn: the signal only stops the wait (the call may still commit).
    const aborted = options.signal
      ? new Promise<never>((_resolve, reject) => {
          options.signal?.addEventListener(
            'abort',
            () => reject(new ClawError('CANCELLED', 'Stopped waiting for the reducer; it may still commit')),
            { once: true },
          );
        })
      : undefined;
    try {
      await (aborted ? Promise.race([call, aborted]) : call);
    } catch (error) {
      if (error instanceof ClawError) throw error;
      const name = error instanceof Error ? error.name : '';
      const message = error instanceof Error ? error.message : String(error);
      if (name === 'SenderError') throw new ClawError('REDUCER_REJECTED', message, { cause: error });
      throw new ClawError('DATABASE_ERROR', message, { cause: error });
    }
  }

  subscribe(
    queries: string | readonly string[],
    callbacks: SubscriptionCallbacks = {},
    options: SubscribeOptions = {},
  ): BusSubscription {
    if (this.#disposed) throw new ClawError('CONNECTION_CLOSED', 'The bus client was disposed', { retryable: false });
    const list = normalizeQueries(queries);
    const parsed = list.map((query) => parseBusQuery(query));
    for (const query of parsed) {
      if (!this.#tables.has(query.table)) {
        throw new ClawError(
          'SUBSCRIPTION_INVALID',
          `Unknown table \`${query.table}\` in \`${query.text.slice(0, 200)}\``,
        );
      }
    }
    const subscription = new SpacetimeDbSubscription(this, list, parsed, callbacks);
    this.#subscriptions.add(subscription);
    if (options.signal?.aborted) {
      void subscription.dispose();
      return subscription;
    }
    options.signal?.addEventListener('abort', () => void subscription.dispose(), { once: true });
    subscription.start(this.#connection, this.#tables);
    return subscription;
  }

  /** @internal Called by a disposed subscription. */
  forget(subscription: SpacetimeDbSubscription): void {
    this.#subscriptions.delete(subscription);
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    const closed = new ClawError('CONNECTION_CLOSED', 'The bus client was disposed', { retryable: false });
    for (const subscription of this.#subscriptions) subscription.end(closed, false);
    this.#subscriptions.clear();
    this.#connection.disconnect();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}
