import type { BusRowChange } from '@clawfleet/protocol';
import type { BusRow, SubscriptionCallbacks } from '../bus-client.ts';
import type { RowCache } from './row-cache.ts';
import { rowKey } from './row-key.ts';

type Notification =
  | { op: 'insert'; table: string; row: BusRow }
  | { op: 'update'; table: string; oldRow: BusRow; row: BusRow }
  | { op: 'delete'; table: string; row: BusRow };

/**
 * The rows one subscription holds in the shared cache. Changes are applied to the cache first and
 * the callbacks fire afterwards, so a callback reading the cache sees the change it is told about.
 */
export class SubscriptionRows {
  readonly #cache: RowCache;
  readonly #tables = new Map<string, Map<string, BusRow>>();

  constructor(cache: RowCache) {
    this.#cache = cache;
  }

  /** Replaces the held rows with a snapshot; rows that vanished fire onDelete, new ones onInsert. */
  reconcile(tables: readonly { table: string; rows: readonly BusRow[] }[], callbacks: SubscriptionCallbacks): void {
    const notifications: Notification[] = [];
    const next = new Map<string, Map<string, BusRow>>();
    for (const { table, rows } of tables) {
      let keyed = next.get(table);
      if (!keyed) {
        keyed = new Map();
        next.set(table, keyed);
      }
      for (const row of rows) keyed.set(rowKey(row), row);
    }
    for (const [table, held] of this.#tables) {
      const incoming = next.get(table);
      for (const [key, row] of held) {
        if (incoming?.has(key)) continue;
        this.#cache.release(table, key);
        notifications.push({ op: 'delete', table, row });
      }
    }
    for (const [table, incoming] of next) {
      const held = this.#tables.get(table);
      for (const [key, row] of incoming) {
        if (held?.has(key)) continue;
        this.#cache.hold(table, key, row);
        notifications.push({ op: 'insert', table, row });
      }
    }
    this.#tables.clear();
    for (const [table, keyed] of next) if (keyed.size > 0) this.#tables.set(table, keyed);
    notify(notifications, callbacks);
  }

  /** Applies one transaction's changes as the host routed them to this subscription. */
  apply(changes: readonly BusRowChange[], callbacks: SubscriptionCallbacks): void {
    const notifications: Notification[] = [];
    for (const change of changes) {
      const { table } = change;
      if (change.op === 'insert') {
        if (this.#add(table, change.row)) notifications.push({ op: 'insert', table, row: change.row });
      } else if (change.op === 'delete') {
        if (this.#remove(table, change.row)) notifications.push({ op: 'delete', table, row: change.row });
      } else {
        const oldRow = change.oldRow ?? change.row;
        const hadOld = this.#remove(table, oldRow);
        this.#add(table, change.row);
        notifications.push(
          hadOld ? { op: 'update', table, oldRow, row: change.row } : { op: 'insert', table, row: change.row },
        );
      }
    }
    notify(notifications, callbacks);
  }

  /** Lets go of every row, without callbacks (the subscription ended). */
  release(): void {
    for (const [table, held] of this.#tables) for (const key of held.keys()) this.#cache.release(table, key);
    this.#tables.clear();
  }

  #add(table: string, row: BusRow): boolean {
    let held = this.#tables.get(table);
    if (!held) {
      held = new Map();
      this.#tables.set(table, held);
    }
    const key = rowKey(row);
    if (held.has(key)) return false;
    held.set(key, row);
    this.#cache.hold(table, key, row);
    return true;
  }

  #remove(table: string, row: BusRow): boolean {
    const held = this.#tables.get(table);
    const key = rowKey(row);
    if (!held?.has(key)) return false;
    held.delete(key);
    if (held.size === 0) this.#tables.delete(table);
    this.#cache.release(table, key);
    return true;
  }
}

function notify(notifications: readonly Notification[], callbacks: SubscriptionCallbacks): void {
  for (const notification of notifications) {
    if (notification.op === 'insert') callbacks.onInsert?.(notification.row, notification.table);
    else if (notification.op === 'delete') callbacks.onDelete?.(notification.row, notification.table);
    else callbacks.onUpdate?.(notification.oldRow, notification.row, notification.table);
  }
}
