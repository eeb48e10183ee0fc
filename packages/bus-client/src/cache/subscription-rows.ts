import type { BusRowChange } from '@clawfleet/protocol';
import type { BusRow, RowCallbacks } from '../bus-client.ts';
import type { RowCache } from './row-cache.ts';
import { contentKey, type RowKey, rowKeyFunction } from './row-key.ts';

type Notification =
  | { op: 'insert'; table: string; row: BusRow }
  | { op: 'update'; table: string; oldRow: BusRow; row: BusRow }
  | { op: 'delete'; table: string; row: BusRow };

/**
 * The rows one subscription holds in the shared cache, keyed by primary key. Changes are applied to
 * the cache first and the callbacks fire afterwards, so a callback reading the cache sees the change
 * it is told about.
 */
export class SubscriptionRows {
  readonly #cache: RowCache;
  readonly #tables = new Map<string, Map<RowKey, BusRow>>();

  constructor(cache: RowCache) {
    this.#cache = cache;
  }

  /**
   * Replaces the held rows with a snapshot: rows that vanished fire onDelete, new ones onInsert, and
   * rows whose content changed meanwhile (a reconnect) onUpdate.
   */
  reconcile(tables: readonly { table: string; rows: readonly BusRow[] }[], callbacks: RowCallbacks): void {
    const notifications: Notification[] = [];
    const next = new Map<string, Map<RowKey, BusRow>>();
    for (const { table, rows } of tables) {
      let keyed = next.get(table);
      if (!keyed) {
        keyed = new Map();
        next.set(table, keyed);
      }
      const keyOf = rowKeyFunction(table);
      for (const row of rows) keyed.set(keyOf(row), row);
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
        const oldRow = held?.get(key);
        if (oldRow === undefined) {
          this.#cache.hold(table, key, row);
          notifications.push({ op: 'insert', table, row });
        } else if (contentKey(oldRow) !== contentKey(row)) {
          this.#cache.replace(table, key, row);
          notifications.push({ op: 'update', table, oldRow, row });
        } else {
          // Unchanged: keep the object callers may already hold.
          incoming.set(key, oldRow);
        }
      }
    }
    this.#tables.clear();
    for (const [table, keyed] of next) if (keyed.size > 0) this.#tables.set(table, keyed);
    notify(notifications, callbacks);
  }

  /** Applies one transaction's changes as the host routed them to this subscription. */
  apply(changes: readonly BusRowChange[], callbacks: RowCallbacks): void {
    const notifications: Notification[] = [];
    for (const change of changes) {
      const { table, row } = change;
      const keyOf = rowKeyFunction(table);
      if (change.op === 'delete') {
        if (this.#remove(table, keyOf(row))) notifications.push({ op: 'delete', table, row });
        continue;
      }
      const key = keyOf(row);
      const oldKey = change.op === 'update' && change.oldRow !== undefined ? keyOf(change.oldRow) : key;
      const held = this.#tables.get(table);
      const oldRow = held?.get(oldKey);
      if (oldRow === undefined) {
        this.#add(table, key, row);
        notifications.push({ op: 'insert', table, row });
      } else if (oldKey === key) {
        held!.set(key, row);
        this.#cache.replace(table, key, row);
        notifications.push({ op: 'update', table, oldRow, row });
      } else {
        this.#remove(table, oldKey);
        this.#add(table, key, row);
        notifications.push({ op: 'update', table, oldRow, row });
      }
    }
    notify(notifications, callbacks);
  }

  /** Lets go of every row, without callbacks (the subscription ended). */
  release(): void {
    for (const [table, held] of this.#tables) for (const key of held.keys()) this.#cache.release(table, key);
    this.#tables.clear();
  }

  #add(table: string, key: RowKey, row: BusRow): void {
    let held = this.#tables.get(table);
    if (!held) {
      held = new Map();
      this.#tables.set(table, held);
    }
    held.set(key, row);
    this.#cache.hold(table, key, row);
  }

  #remove(table: string, key: RowKey): boolean {
    const held = this.#tables.get(table);
    if (!held?.delete(key)) return false;
    if (held.size === 0) this.#tables.delete(table);
    this.#cache.release(table, key);
    return true;
  }
}

function notify(notifications: readonly Notification[], callbacks: RowCallbacks): void {
  for (const notification of notifications) {
    if (notification.op === 'insert') callbacks.onInsert?.(notification.row, notification.table);
    else if (notification.op === 'delete') callbacks.onDelete?.(notification.row, notification.table);
    else callbacks.onUpdate?.(notification.oldRow, notification.row, notification.table);
  }
}
