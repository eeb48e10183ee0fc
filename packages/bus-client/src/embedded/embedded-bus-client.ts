import { IpcClient } from '@clawfleet/ipc';
import {
  BUS_METHODS,
  BUS_ROWS_TOPIC,
  type BusRowChange,
  busCallResultSchema,
  busIdentityResultSchema,
  busRowsEventSchema,
  busSubscribeResultSchema,
  busUnsubscribeResultSchema,
  ClawError,
  describeValue,
  isClawError,
  type Logger,
  parseBusQuery,
  parseOrThrow,
  silentLogger,
} from '@clawfleet/protocol';
import type { ZodType } from 'zod';
import type {
  BusCacheView,
  BusClient,
  BusQuery,
  BusReducerName,
  BusReducers,
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

export interface EmbeddedBusClientOptions {
  /** The orchestrator's IPC socket. */
  socketPath: string;
  /** The name to authenticate as; it is the caller of every reducer this client runs. */
  name: string;
  token: string;
  logger?: Logger;
  /** @default 30000 */
  requestTimeoutMs?: number;
  /** @default 10000 */
  connectTimeoutMs?: number;
  /** Reconnect after the host restarts, re-subscribe and reconcile the cache. @default true */
  reconnect?: boolean;
  signal?: AbortSignal;
}

/** Options of a bus client over a connection someone else opened (see `connectAgent`). */
export interface EmbeddedBusClientAttachOptions {
  logger?: Logger;
  /** Whether the connection reconnects after the host restarts (the IpcClient's `reconnect`). @default true */
  reconnects?: boolean;
  signal?: AbortSignal;
}

type SubscriptionState = 'pending' | 'active' | 'ended';

/**
 * One subscription of the embedded client. Events that arrive while its snapshot is pending (sent
 * after the snapshot was taken but before the reply) are held and applied after the snapshot.
 */
class EmbeddedSubscription implements BusSubscription {
  readonly queries: readonly string[];
  readonly ready: Promise<void>;
  readonly id: number;
  readonly rows: SubscriptionRows;
  readonly callbacks: RowCallbacks;
  state: SubscriptionState = 'pending';
  held: BusRowChange[][] = [];
  readonly #owner: EmbeddedBusClient;
  #settle: { resolve: () => void; reject: (error: ClawError) => void } | undefined;

  constructor(
    owner: EmbeddedBusClient,
    id: number,
    queries: readonly string[],
    cache: RowCache,
    callbacks: RowCallbacks,
  ) {
    this.#owner = owner;
    this.id = id;
    this.queries = queries;
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

  applied(): void {
    this.state = 'active';
    this.#settle?.resolve();
    this.#settle = undefined;
  }

  /** Ends the subscription: its rows leave the cache, a pending `ready` rejects with `reason`. */
  end(reason: ClawError, notify: boolean): void {
    if (this.state === 'ended') return;
    this.state = 'ended';
    this.held = [];
    this.rows.release();
    this.#settle?.reject(reason);
    this.#settle = undefined;
    if (notify) this.callbacks.onError?.(reason);
  }

  dispose(): Promise<void> {
    return this.#owner.unsubscribe(this);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}

/** The bus client over the embedded bus's IPC methods. */
export class EmbeddedBusClient implements BusClient {
  readonly name: string;
  readonly identity: string;
  readonly reducers: BusReducers = createBusReducers((reducer, args, options) =>
    this.callReducer(reducer, args, options),
  );
  readonly #ipc: IpcClient;
  /** Whether disposing this client closes the connection (it opened it itself). */
  readonly #ownsConnection: boolean;
  readonly #logger: Logger;
  readonly #cache = new RowCache();
  readonly #subscriptions = new Map<number, EmbeddedSubscription>();
  readonly #offRows: () => void;
  readonly #reconnects: boolean;
  #nextSubscriptionId = 1;
  #disposed = false;

  private constructor(
    ipc: IpcClient,
    ownsConnection: boolean,
    name: string,
    identity: string,
    logger: Logger,
    reconnects: boolean,
  ) {
    this.#ipc = ipc;
    this.#ownsConnection = ownsConnection;
    this.#reconnects = reconnects;
    this.name = name;
    this.identity = identity;
    this.#logger = logger;
    const offRows = ipc.onEvent(BUS_ROWS_TOPIC, (data, subscriptionId) => this.#onRows(data, subscriptionId));
    const onReconnected = (): void => this.#resubscribeAll();
    const onDisconnected = (error: ClawError): void => {
      if (this.#reconnects || this.#disposed) return;
      // Without reconnecting, no subscription will hear from the host again: say so.
      for (const subscription of this.#subscriptions.values()) subscription.end(error, true);
      this.#subscriptions.clear();
    };
    ipc.on('reconnected', onReconnected);
    ipc.on('disconnected', onDisconnected);
    this.#offRows = () => {
      offRows();
      ipc.off('reconnected', onReconnected);
      ipc.off('disconnected', onDisconnected);
    };
  }

  /** Connects, authenticates as `name`, and learns this client's identity. */
  static async connect(options: EmbeddedBusClientOptions): Promise<EmbeddedBusClient> {
    const logger = (options.logger ?? silentLogger).child({ component: 'embedded-bus-client', agent: options.name });
    const ipc = await IpcClient.connect({
      socketPath: options.socketPath,
      agent: options.name,
      token: options.token,
      logger,
      requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      reconnect: options.reconnect ?? true,
    });
    try {
      return await EmbeddedBusClient.#create(ipc, true, logger, options.reconnect ?? true, options.signal);
    } catch (error) {
      await ipc.close();
      throw error;
    }
  }

  /**
   * A bus client over a connection that is already open and authenticated (one connection per agent:
   * `connectAgent` shares it with the inference client). Disposing the bus client leaves it open.
   */
  static async attach(ipc: IpcClient, options: EmbeddedBusClientAttachOptions = {}): Promise<EmbeddedBusClient> {
    const logger = (options.logger ?? silentLogger).child({ component: 'embedded-bus-client' });
    return EmbeddedBusClient.#create(ipc, false, logger, options.reconnects ?? true, options.signal);
  }

  static async #create(
    ipc: IpcClient,
    ownsConnection: boolean,
    logger: Logger,
    reconnects: boolean,
    signal: AbortSignal | undefined,
  ): Promise<EmbeddedBusClient> {
    const result = parseResult(
      busIdentityResultSchema,
      await ipc.request(BUS_METHODS.identity, {}, { signal }),
      BUS_METHODS.identity,
    );
    return new EmbeddedBusClient(ipc, ownsConnection, result.name, result.identity, logger, reconnects);
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
    if (typeof reducer !== 'string' || reducer.length === 0) {
      throw new ClawError('INVALID_PARAMS', `Expected \`reducer\` to be a reducer name, got ${describeValue(reducer)}`);
    }
    if (typeof args !== 'object' || args === null || Array.isArray(args)) {
      throw new ClawError('INVALID_PARAMS', `Expected \`args\` to be an object, got ${describeValue(args)}`);
    }
    const result = await this.#ipc.request(BUS_METHODS.call, { reducer, args }, { signal: options.signal });
    parseResult(busCallResultSchema, result, BUS_METHODS.call);
  }

  subscribe<const Queries extends BusQuery | readonly BusQuery[]>(
    queries: Queries,
    callbacks: SubscriptionCallbacks<QueriesTables<Queries>> = {},
    options: SubscribeOptions = {},
  ): BusSubscription {
    this.#checkOpen();
    const list = normalizeQueries(queries);
    // Parse here too, so a bad query fails in the caller's stack before anything is sent.
    for (const query of list) parseBusQuery(query);
    const id = this.#allocateSubscriptionId();
    // The typed callbacks take each table's rows; the host sends exactly those tables' rows.
    const rowCallbacks = callbacks as RowCallbacks;
    const subscription = new EmbeddedSubscription(this, id, list, this.#cache, rowCallbacks);
    this.#subscriptions.set(id, subscription);
    if (options.signal) {
      if (options.signal.aborted) {
        void subscription.dispose();
        return subscription;
      }
      options.signal.addEventListener('abort', () => void subscription.dispose(), { once: true });
    }
    void this.#requestSnapshot(subscription);
    return subscription;
  }

  /** Ends a subscription: its rows leave the cache now, the host stops sending them. */
  async unsubscribe(subscription: EmbeddedSubscription): Promise<void> {
    if (subscription.state === 'ended') return;
    subscription.end(new ClawError('CANCELLED', 'The subscription was disposed'), false);
    this.#subscriptions.delete(subscription.id);
    if (this.#disposed || !this.#ipc.connected) return;
    try {
      parseResult(
        busUnsubscribeResultSchema,
        await this.#ipc.request(BUS_METHODS.unsubscribe, { subscriptionId: subscription.id }),
        BUS_METHODS.unsubscribe,
      );
    } catch (error) {
      // The connection dropped or closed: the host forgets the connection's subscriptions by itself.
      if (!isClawError(error, 'CONNECTION_CLOSED')) throw error;
    }
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#offRows();
    const closed = new ClawError('CONNECTION_CLOSED', 'The bus client was disposed', { retryable: false });
    for (const subscription of this.#subscriptions.values()) subscription.end(closed, false);
    this.#subscriptions.clear();
    this.#cache.clear();
    if (this.#ownsConnection) await this.#ipc.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  #checkOpen(): void {
    if (this.#disposed) throw new ClawError('CONNECTION_CLOSED', 'The bus client was disposed', { retryable: false });
  }

  #allocateSubscriptionId(): number {
    for (;;) {
      const id = this.#nextSubscriptionId;
      this.#nextSubscriptionId = id >= 0xffff_ffff ? 1 : id + 1;
      if (!this.#subscriptions.has(id)) return id;
    }
  }

  async #requestSnapshot(subscription: EmbeddedSubscription): Promise<void> {
    subscription.held = [];
    try {
      const result = parseResult(
        busSubscribeResultSchema,
        await this.#ipc.request(BUS_METHODS.subscribe, {
          subscriptionId: subscription.id,
          queries: subscription.queries,
        }),
        BUS_METHODS.subscribe,
      );
      if (subscription.state === 'ended') return;
      subscription.rows.reconcile(result.tables, subscription.callbacks);
      const held = subscription.held;
      subscription.held = [];
      for (const changes of held) subscription.rows.apply(changes, subscription.callbacks);
      subscription.applied();
      subscription.callbacks.onApplied?.();
    } catch (error) {
      const clawError = ClawError.from(error);
      // A dropped connection is not the subscription's fault: `reconnected` re-subscribes it.
      if (isClawError(clawError, 'CONNECTION_CLOSED') && !this.#disposed && this.#reconnects) return;
      this.#subscriptions.delete(subscription.id);
      subscription.end(clawError, true);
    }
  }

  #onRows(data: unknown, subscriptionId: number | undefined): void {
    const subscription = subscriptionId === undefined ? undefined : this.#subscriptions.get(subscriptionId);
    // Events for a subscription ended here but not yet at the host are expected; drop them.
    if (!subscription || subscription.state === 'ended') return;
    const parsed = busRowsEventSchema.safeParse(data);
    if (!parsed.success) {
      this.#logger.error(
        { subscriptionId, issue: parsed.error.issues[0]?.message },
        'malformed bus.rows event dropped',
      );
      return;
    }
    if (subscription.state === 'pending') {
      subscription.held.push(parsed.data.changes);
      return;
    }
    try {
      subscription.rows.apply(parsed.data.changes, subscription.callbacks);
    } catch (error) {
      this.#logger.error({ err: error, subscriptionId }, 'subscription callback threw');
    }
  }

  /**
   * After a host restart the new connection has no subscriptions: subscribe again under the same ids
   * and reconcile each subscription's rows with the new snapshot (vanished rows fire onDelete).
   */
  #resubscribeAll(): void {
    for (const subscription of this.#subscriptions.values()) {
      if (subscription.state === 'ended') continue;
      subscription.state = 'pending';
      void this.#requestSnapshot(subscription);
    }
  }
}

/** A host answer that does not match the method's result schema is a protocol fault, not data. */
function parseResult<T>(schema: ZodType<T>, value: unknown, method: string): T {
  return parseOrThrow(schema, value, 'INVALID_FRAME', `host answer to \`${method}\``);
}
