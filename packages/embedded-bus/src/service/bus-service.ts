import { viewCatalog } from '@clawfleet/db-module';
import type { IpcServer, PeerConnection, RequestContext } from '@clawfleet/ipc';
import {
  BUS_METHODS,
  BUS_ROWS_TOPIC,
  type BusCallResult,
  type BusIdentityResult,
  type BusQueryResult,
  type BusRow,
  type BusRowChange,
  type BusSubscribeResult,
  type BusUnsubscribeResult,
  busCallParamsSchema,
  busIdentityParamsSchema,
  busQueryParamsSchema,
  busSubscribeParamsSchema,
  busUnsubscribeParamsSchema,
  ClawError,
  type Logger,
  type ParsedBusQuery,
  parseBusQuery,
  silentLogger,
} from '@clawfleet/protocol';
import { z } from 'zod';
import { SubscriptionRegistry } from './subscription-registry.ts';

/** One call of a group, and its outcome (`EmbeddedDatabase.callReducers`). */
export interface ServiceReducerCall {
  callerName: string;
  reducer: string;
  args: Record<string, unknown>;
}
export type ServiceReducerCallResult = { ok: true; changes: readonly BusRowChange[] } | { ok: false; error: ClawError };

/** What the service needs from the database host (`EmbeddedDatabase` satisfies it). */
export interface BusServiceDatabase {
  callReducer(callerName: string, reducer: string, args: Record<string, unknown>): readonly BusRowChange[];
  /** Runs the calls as one group commit, each all-or-nothing; publishes before it returns. */
  callReducers(calls: readonly ServiceReducerCall[]): ServiceReducerCallResult[];
  query(callerName: string, table: string): BusRow[];
  isVisible(callerName: string, table: string, row: BusRow): boolean;
  canRead(callerName: string, table: string): boolean;
  onCommit(listener: (changes: readonly BusRowChange[]) => void): () => void;
  clientConnected(callerName: string): void;
  clientDisconnected(callerName: string): void;
  tableNames(): string[];
}

export interface BusServiceOptions {
  database: BusServiceDatabase;
  server: IpcServer;
  /** Maps an authenticated name to its database identity (hex). */
  identityForName: (name: string) => string;
  logger?: Logger;
  /**
   * Live subscriptions one connection may hold; one more is refused with TOO_MANY_REQUESTS.
   * @default 256
   */
  maxSubscriptionsPerConnection?: number;
}

/** A `bus.call` waiting for the group it will commit with. */
interface QueuedCall {
  context: RequestContext;
  reducer: string;
  args: Record<string, unknown>;
  resolve: (result: BusCallResult) => void;
  reject: (error: unknown) => void;
}

/** The most calls one group commit takes; more waiting calls form further groups in the same turn. */
const MAX_GROUP_SIZE = 256;

const optionsSchema = z.object({
  maxSubscriptionsPerConnection: z.number().int().min(1).max(65_536).optional(),
});

/**
 * Serves an embedded database over IPC: `bus.call`, `bus.subscribe`, `bus.unsubscribe`, `bus.query`,
 * `bus.identity`, and `bus.rows` events. The caller is always the connection's authenticated name,
 * never a parameter.
 *
 * Ordering invariant: the host runs reducers synchronously and reports each commit synchronously, so
 * a reducer call's `bus.rows` events are written to every subscriber before the call's reply is
 * written: a caller that awaited its call sees its own write in its subscriptions.
 *
 * Group commit: `bus.call`s are queued and run together once per event-loop turn (`setImmediate`, so
 * every request read in the same turn, from any connection, joins), in arrival order, as one
 * transaction with a savepoint per call (`callReducers`). A call is answered only after its group
 * committed.
 */
export class BusService {
  readonly #database: BusServiceDatabase;
  readonly #server: IpcServer;
  readonly #identityForName: (name: string) => string;
  readonly #logger: Logger;
  readonly #registry: SubscriptionRegistry;
  readonly #maxSubscriptions: number;
  readonly #unsubscribeCommit: () => void;
  readonly #onConnection = (connection: PeerConnection): void => this.#connected(connection);
  #queue: QueuedCall[] = [];
  #flushScheduled = false;
  readonly #flush = (): void => this.#runQueuedCalls();
  #disposed = false;

  constructor(options: BusServiceOptions) {
    const parsed = optionsSchema.safeParse(options);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ClawError(
        'CONFIG_INVALID',
        `Invalid BusService option \`${issue?.path.join('.')}\`: ${issue?.message}`,
      );
    }
    this.#database = options.database;
    this.#server = options.server;
    this.#identityForName = options.identityForName;
    this.#logger = (options.logger ?? silentLogger).child({ component: 'bus-service' });
    this.#maxSubscriptions = options.maxSubscriptionsPerConnection ?? 256;
    this.#registry = new SubscriptionRegistry(this.#database, this.#logger);

    this.#server.handle(BUS_METHODS.call, {
      params: busCallParamsSchema,
      handler: (params, context): Promise<BusCallResult> => {
        this.#checkOpen(context);
        return new Promise<BusCallResult>((resolve, reject) => {
          this.#queue.push({ context, reducer: params.reducer, args: params.args, resolve, reject });
          if (!this.#flushScheduled) {
            this.#flushScheduled = true;
            setImmediate(this.#flush);
          }
        });
      },
    });
    this.#server.handle(BUS_METHODS.subscribe, {
      params: busSubscribeParamsSchema,
      handler: (params, context): BusSubscribeResult => {
        this.#checkOpen(context);
        const queries = params.queries.map((query) => this.#parseQuery(query, context.identity));
        if (this.#registry.countFor(context.connection) >= this.#maxSubscriptions) {
          throw new ClawError(
            'TOO_MANY_REQUESTS',
            `This connection already holds ${this.#maxSubscriptions} subscriptions; unsubscribe some first`,
          );
        }
        // Snapshot and registration happen in one synchronous step: no commit can fall between them.
        return { tables: this.#registry.add(context.connection, params.subscriptionId, queries) };
      },
    });
    this.#server.handle(BUS_METHODS.unsubscribe, {
      params: busUnsubscribeParamsSchema,
      handler: (params, context): BusUnsubscribeResult => ({
        removed: this.#registry.remove(context.connection, params.subscriptionId),
      }),
    });
    this.#server.handle(BUS_METHODS.query, {
      params: busQueryParamsSchema,
      handler: (params, context): BusQueryResult => {
        this.#checkOpen(context);
        const query = this.#parseQuery(params.query, context.identity);
        return { table: query.table, rows: this.#registry.snapshot(context.identity, [query])[0]?.rows ?? [] };
      },
    });
    this.#server.handle(BUS_METHODS.identity, {
      params: busIdentityParamsSchema,
      handler: (_params, context): BusIdentityResult => ({
        name: context.identity,
        identity: this.#identityForName(context.identity),
      }),
    });

    this.#unsubscribeCommit = this.#database.onCommit((changes) => this.#publish(changes));
    this.#server.on('connection', this.#onConnection);
  }

  /** Live subscriptions across all connections (for metrics and tests). */
  get subscriptionCount(): number {
    return this.#registry.size;
  }

  /** Stops publishing and drops every subscription. The IPC methods stay registered but refuse calls. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#unsubscribeCommit();
    this.#server.off('connection', this.#onConnection);
    this.#registry.clear();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  #checkOpen(context: RequestContext): void {
    if (this.#disposed) throw new ClawError('SHUTTING_DOWN', 'The bus service is shut down');
    if (context.aborted) throw new ClawError('CANCELLED', 'The request was cancelled before it ran');
  }

  /** Runs every queued call, in groups of at most MAX_GROUP_SIZE, and answers each after its group committed. */
  #runQueuedCalls(): void {
    this.#flushScheduled = false;
    const queue = this.#queue;
    this.#queue = [];
    for (let start = 0; start < queue.length; start += MAX_GROUP_SIZE) {
      const group: QueuedCall[] = [];
      for (const queued of queue.slice(start, start + MAX_GROUP_SIZE)) {
        try {
          // Cancelled or shut down while waiting for its group: it never runs.
          this.#checkOpen(queued.context);
          group.push(queued);
        } catch (error) {
          queued.reject(error);
        }
      }
      if (group.length === 0) continue;
      let results: ServiceReducerCallResult[];
      try {
        results = this.#database.callReducers(
          group.map((queued) => ({ callerName: queued.context.identity, reducer: queued.reducer, args: queued.args })),
        );
      } catch (error) {
        for (const queued of group) queued.reject(error);
        continue;
      }
      // The group's events were pushed during callReducers; the replies go out after them.
      for (let index = 0; index < group.length; index++) {
        const result = results[index]!;
        if (result.ok) group[index]!.resolve({ changeCount: result.changes.length });
        else group[index]!.reject(result.error);
      }
    }
  }

  #parseQuery(text: string, callerName: string): ParsedBusQuery {
    const query = parseBusQuery(text);
    if (!this.#database.tableNames().includes(query.table)) {
      throw new ClawError('SUBSCRIPTION_INVALID', `Unknown table \`${query.table}\` in \`${text.slice(0, 200)}\``, {
        details: { table: query.table },
      });
    }
    // The same rule as SpacetimeDB, so code written against the embedded bus runs on both.
    if (!this.#database.canRead(callerName, query.table)) {
      const view = Object.entries(viewCatalog).find(([, table]) => table === query.table)?.[0];
      throw new ClawError(
        'SUBSCRIPTION_INVALID',
        `Table \`${query.table}\` is private${view ? `; subscribe to \`${view}\`, which shows the rows you may see` : ''}`,
        { details: { table: query.table, ...(view ? { view } : {}) } },
      );
    }
    return query;
  }

  #publish(changes: readonly BusRowChange[]): void {
    if (changes.length === 0) return;
    for (const [subscription, visible] of this.#registry.route(changes)) {
      const payload: { changes: BusRowChange[] } = { changes: visible };
      try {
        subscription.connection.push(BUS_ROWS_TOPIC, payload, subscription.id);
      } catch (error) {
        // A peer that cannot take the event is being dropped by the IPC layer; the others still get theirs.
        this.#logger.warn({ err: error, connectionId: subscription.connection.id }, 'could not push row changes');
      }
    }
  }

  // Lifecycle reducers run once per connection, as SpacetimeDB runs them; the module counts connections.
  #connected(connection: PeerConnection): void {
    // The connection's signal aborts however it closes (goodbye, drop, shutdown); the server's
    // `disconnect` event is not emitted after a goodbye, so it is not relied on.
    connection.signal.addEventListener('abort', () => this.#disconnected(connection), { once: true });
    try {
      this.#database.clientConnected(connection.identity);
    } catch (error) {
      this.#logger.warn({ err: error, agent: connection.identity }, 'clientConnected lifecycle reducer failed');
    }
  }

  #disconnected(connection: PeerConnection): void {
    this.#registry.removeConnection(connection);
    if (this.#disposed) return;
    try {
      this.#database.clientDisconnected(connection.identity);
    } catch (error) {
      this.#logger.warn({ err: error, agent: connection.identity }, 'clientDisconnected lifecycle reducer failed');
    }
  }
}
