import { describeTables, viewCatalog } from '@clawfleet/db-module';
import {
  type BusQueryColumn,
  type BusRow,
  type BusRowChange,
  type BusTableRows,
  busQueryMatches,
  ClawError,
  type Logger,
  type ParsedBusQuery,
  typeBusQuery,
} from '@clawfleet/protocol';

/** The part of a connection the registry needs: where to push, and whose eyes the rows are for. */
export interface SubscriberConnection {
  readonly id: string;
  readonly identity: string;
  push(topic: string, data: unknown, subscriptionId?: number): void;
}

interface RegistryDatabase {
  query(callerName: string, table: string): BusRow[];
  isVisible(callerName: string, table: string, row: BusRow): boolean;
}

export interface Subscription {
  readonly id: number;
  readonly connection: SubscriberConnection;
  /** Queries by table; a row is in the subscription when any query of its table selects it. */
  readonly queriesByTable: ReadonlyMap<string, readonly ParsedBusQuery[]>;
}

/**
 * Live subscriptions, indexed by connection and by table, and the routing of committed changes to
 * them. A subscription sees a row when the row is visible to the subscriber's identity and one of its
 * queries selects it; an update that moves a row into or out of that set is seen as an insert or a
 * delete, as SpacetimeDB does.
 */
export class SubscriptionRegistry {
  readonly #database: RegistryDatabase;
  readonly #logger: Logger;
  readonly #byConnection = new Map<SubscriberConnection, Map<number, Subscription>>();
  readonly #byTable = new Map<string, Set<Subscription>>();
  #size = 0;

  constructor(database: RegistryDatabase, logger: Logger) {
    this.#database = database;
    this.#logger = logger;
  }

  get size(): number {
    return this.#size;
  }

  countFor(connection: SubscriberConnection): number {
    return this.#byConnection.get(connection)?.size ?? 0;
  }

  /**
   * The rows the queries select for `identity` now, one entry per table. Throws SUBSCRIPTION_INVALID
   * for a query SpacetimeDB's type checker would refuse (see `typeBusQuery`).
   */
  snapshot(identity: string, queries: readonly ParsedBusQuery[]): BusTableRows[] {
    return this.#snapshot(identity, typeQueries(queries));
  }

  #snapshot(identity: string, queries: readonly ParsedBusQuery[]): BusTableRows[] {
    return [...groupByTable(queries)].map(([table, tableQueries]) => ({
      table,
      rows: this.#database
        .query(identity, table)
        .filter((row) => tableQueries.some((query) => busQueryMatches(query, table, row))),
    }));
  }

  /** Registers a subscription and returns its snapshot, in one synchronous step. */
  add(connection: SubscriberConnection, id: number, queries: readonly ParsedBusQuery[]): BusTableRows[] {
    let subscriptions = this.#byConnection.get(connection);
    if (subscriptions?.has(id)) {
      throw new ClawError('INVALID_PARAMS', `Subscription id ${id} is already in use on this connection`, {
        details: { subscriptionId: id },
      });
    }
    const typed = typeQueries(queries);
    const tables = this.#snapshot(connection.identity, typed);
    const subscription: Subscription = { id, connection, queriesByTable: groupByTable(typed) };
    if (!subscriptions) {
      subscriptions = new Map();
      this.#byConnection.set(connection, subscriptions);
    }
    subscriptions.set(id, subscription);
    for (const table of subscription.queriesByTable.keys()) {
      let set = this.#byTable.get(table);
      if (!set) {
        set = new Set();
        this.#byTable.set(table, set);
      }
      set.add(subscription);
    }
    this.#size += 1;
    this.#logger.debug({ connectionId: connection.id, subscriptionId: id, queries: queries.length }, 'subscribed');
    return tables;
  }

  remove(connection: SubscriberConnection, id: number): boolean {
    const subscriptions = this.#byConnection.get(connection);
    const subscription = subscriptions?.get(id);
    if (!subscriptions || !subscription) return false;
    subscriptions.delete(id);
    if (subscriptions.size === 0) this.#byConnection.delete(connection);
    this.#unindex(subscription);
    return true;
  }

  removeConnection(connection: SubscriberConnection): void {
    const subscriptions = this.#byConnection.get(connection);
    if (!subscriptions) return;
    this.#byConnection.delete(connection);
    for (const subscription of subscriptions.values()) this.#unindex(subscription);
  }

  clear(): void {
    this.#byConnection.clear();
    this.#byTable.clear();
    this.#size = 0;
  }

  /** What each subscription sees of one transaction's changes; subscriptions that see nothing are left out. */
  route(changes: readonly BusRowChange[]): Map<Subscription, BusRowChange[]> {
    const routed = new Map<Subscription, BusRowChange[]>();
    for (const change of changes) {
      const subscribers = this.#byTable.get(change.table);
      if (!subscribers) continue;
      for (const subscription of subscribers) {
        const seen = this.#view(subscription, change);
        if (!seen) continue;
        let list = routed.get(subscription);
        if (!list) {
          list = [];
          routed.set(subscription, list);
        }
        list.push(seen);
      }
    }
    return routed;
  }

  #selects(subscription: Subscription, table: string, row: BusRow): boolean {
    const queries = subscription.queriesByTable.get(table);
    if (!queries?.some((query) => busQueryMatches(query, table, row))) return false;
    return this.#database.isVisible(subscription.connection.identity, table, row);
  }

  #view(subscription: Subscription, change: BusRowChange): BusRowChange | undefined {
    const { table, op, row } = change;
    if (op !== 'update') return this.#selects(subscription, table, row) ? { table, op, row } : undefined;
    const oldRow = change.oldRow ?? row;
    const before = this.#selects(subscription, table, oldRow);
    const after = this.#selects(subscription, table, row);
    if (before && after) return { table, op: 'update', row, oldRow };
    if (before) return { table, op: 'delete', row: oldRow };
    if (after) return { table, op: 'insert', row };
    return undefined;
  }

  #unindex(subscription: Subscription): void {
    for (const table of subscription.queriesByTable.keys()) {
      const set = this.#byTable.get(table);
      set?.delete(subscription);
      if (set?.size === 0) this.#byTable.delete(table);
    }
    this.#size -= 1;
  }
}

let columnsByTable: Map<string, BusQueryColumn[]> | undefined;

/** Columns of every table and view (a view has its table's columns), from the module's own definitions. */
function tableColumns(): Map<string, BusQueryColumn[]> {
  if (!columnsByTable) {
    columnsByTable = new Map(describeTables().map((table) => [table.name, table.columns]));
    for (const [view, table] of Object.entries(viewCatalog)) {
      const columns = columnsByTable.get(table);
      if (columns) columnsByTable.set(view, columns);
    }
  }
  return columnsByTable;
}

/**
 * The embedded host accepts exactly the subscription queries SpacetimeDB's type checker accepts (within
 * the grammar of `parseBusQuery`), so code written against one host runs on the other.
 */
function typeQueries(queries: readonly ParsedBusQuery[]): ParsedBusQuery[] {
  const columns = tableColumns();
  return queries.map((query) => typeBusQuery(query, columns.get(query.table) ?? []));
}

function groupByTable(queries: readonly ParsedBusQuery[]): Map<string, ParsedBusQuery[]> {
  const byTable = new Map<string, ParsedBusQuery[]>();
  for (const query of queries) {
    const list = byTable.get(query.table);
    if (list) list.push(query);
    else byTable.set(query.table, [query]);
  }
  return byTable;
}
