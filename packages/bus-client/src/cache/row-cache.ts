import type { BusCacheView, BusRow } from '../bus-client.ts';
import { rowKey } from './row-key.ts';

interface CachedRow {
  row: BusRow;
  /** How many subscriptions hold this row; it leaves the cache at zero. */
  count: number;
}

/**
 * The client cache: the union of the rows of all active subscriptions, reference-counted so that a
 * row two subscriptions share stays until both let go of it (as in SpacetimeDB's client cache).
 */
export class RowCache {
  readonly #tables = new Map<string, Map<string, CachedRow>>();
  readonly view: BusCacheView;

  constructor() {
    this.view = new Proxy({} as BusCacheView, {
      get: (_target, property) => (typeof property === 'string' ? this.rows(property) : undefined),
      has: (_target, property) => typeof property === 'string' && this.#tables.has(property),
      ownKeys: () => [...this.#tables.keys()],
      getOwnPropertyDescriptor: (_target, property) =>
        typeof property === 'string' && this.#tables.has(property)
          ? { enumerable: true, configurable: true, value: this.rows(property) }
          : undefined,
    });
  }

  rows(table: string): BusRow[] {
    const rows = this.#tables.get(table);
    return rows ? [...rows.values()].map((entry) => entry.row) : [];
  }

  hold(table: string, key: string, row: BusRow): void {
    let rows = this.#tables.get(table);
    if (!rows) {
      rows = new Map();
      this.#tables.set(table, rows);
    }
    const entry = rows.get(key);
    if (entry) {
      entry.count += 1;
    } else {
      rows.set(key, { row, count: 1 });
    }
  }

  release(table: string, key: string): void {
    const rows = this.#tables.get(table);
    const entry = rows?.get(key);
    if (!rows || !entry) return;
    entry.count -= 1;
    if (entry.count > 0) return;
    rows.delete(key);
    if (rows.size === 0) this.#tables.delete(table);
  }

  clear(): void {
    this.#tables.clear();
  }
}

export { rowKey };
