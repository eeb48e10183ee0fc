import type { BusCacheView, BusRow } from '../bus-client.ts';
import type { RowKey } from './row-key.ts';

interface CachedRow {
  row: BusRow;
  /** How many subscriptions hold this row; it leaves the cache at zero. */
  count: number;
}

interface CachedTable {
  readonly rows: Map<RowKey, CachedRow>;
  /** The frozen array `rows()` returns; built on first read after a change. */
  snapshot: readonly BusRow[] | undefined;
}

const NO_ROWS: readonly BusRow[] = Object.freeze([]);

/**
 * The client cache: the union of the rows of all active subscriptions, keyed by primary key and
 * reference-counted so that a row two subscriptions share stays until both let go of it (as in
 * SpacetimeDB's client cache). The newest version of a row wins.
 */
export class RowCache {
  readonly #tables = new Map<string, CachedTable>();
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

  /** The rows of a table: the same frozen array until the table changes. */
  rows(table: string): readonly BusRow[] {
    const cached = this.#tables.get(table);
    if (!cached) return NO_ROWS;
    if (cached.snapshot === undefined) {
      const rows: BusRow[] = [];
      for (const entry of cached.rows.values()) rows.push(entry.row);
      cached.snapshot = Object.freeze(rows);
    }
    return cached.snapshot;
  }

  /** One more subscription holds the row with this key; `row` is its newest version. */
  hold(table: string, key: RowKey, row: BusRow): void {
    let cached = this.#tables.get(table);
    if (!cached) {
      cached = { rows: new Map(), snapshot: undefined };
      this.#tables.set(table, cached);
    }
    const entry = cached.rows.get(key);
    if (entry) {
      entry.count += 1;
      if (entry.row === row) return;
      entry.row = row;
    } else {
      cached.rows.set(key, { row, count: 1 });
    }
    cached.snapshot = undefined;
  }

  /** A holder saw a newer version of a row it keeps holding. */
  replace(table: string, key: RowKey, row: BusRow): void {
    const cached = this.#tables.get(table);
    const entry = cached?.rows.get(key);
    if (!cached || !entry || entry.row === row) return;
    entry.row = row;
    cached.snapshot = undefined;
  }

  release(table: string, key: RowKey): void {
    const cached = this.#tables.get(table);
    const entry = cached?.rows.get(key);
    if (!cached || !entry) return;
    entry.count -= 1;
    if (entry.count > 0) return;
    cached.rows.delete(key);
    cached.snapshot = undefined;
    if (cached.rows.size === 0) this.#tables.delete(table);
  }

  clear(): void {
    this.#tables.clear();
  }
}
