// The page's copy of the database rows it shows, kept current by `row` events from `/events`.
// Panels read from here and never from the network, so one event updates every panel that shows
// the row, and a reload after `reset` replaces everything at once.

/** @typedef {Record<string, unknown>} Row */

/** Views publish the rows of their table; the page keeps one copy under the table's name. */
const TABLE_ALIASES = /** @type {const} */ ({
  visible_message: 'message',
  visible_memory: 'memory_entry',
  visible_memory_link: 'memory_link',
  visible_memory_compaction: 'memory_compaction',
});

/** Tables keyed by something other than `id`. */
const PRIMARY_KEYS = /** @type {Record<string, string>} */ ({
  agent: 'name',
  agent_status: 'agent',
  plan_approver: 'agent',
});

/**
 * History tables grow forever in the database; the page keeps the newest rows only (by id), so a
 * dashboard left open for a week does not grow without bound.
 */
const KEEP_NEWEST = /** @type {Record<string, number>} */ ({
  message: 500,
  inference_usage: 2000,
  reflection: 500,
  cycle: 500,
  stimulus: 200,
  action_log: 200,
  tool_call: 500,
  cycle_inference: 500,
});

/**
 * The name the page keeps a table's rows under.
 * @param {string} table
 */
export function canonicalTable(table) {
  return /** @type {Record<string, string>} */ (TABLE_ALIASES)[table] ?? table;
}

/**
 * A row's key in its table.
 * @param {string} table
 * @param {Row} row
 * @returns {string | undefined}
 */
export function keyOf(table, row) {
  const value = row[PRIMARY_KEYS[table] ?? 'id'];
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint'
    ? String(value)
    : undefined;
}

export class RowStore {
  /** @type {Map<string, Map<string, Row>>} */
  #tables = new Map();
  /** @type {Set<(tables: ReadonlySet<string>) => void>} */
  #listeners = new Set();
  /** @type {Set<string>} */
  #pending = new Set();
  #scheduled = false;

  /**
   * Rows of a table, in key order (ids ascending).
   * @param {string} table
   * @returns {Row[]}
   */
  rows(table) {
    return Array.from(this.#table(table).values());
  }

  /**
   * @param {string} table
   * @param {string | number} key
   * @returns {Row | undefined}
   */
  get(table, key) {
    return this.#table(table).get(String(key));
  }

  /**
   * Replaces every row of a table (a fresh load).
   * @param {string} table
   * @param {Row[]} rows
   */
  replace(table, rows) {
    const name = canonicalTable(table);
    /** @type {Map<string, Row>} */
    const replaced = new Map();
    for (const row of sortByKey(name, rows)) {
      const key = keyOf(name, row);
      if (key !== undefined) replaced.set(key, row);
    }
    this.#tables.set(name, replaced);
    this.#trim(name);
    this.#changed(name);
  }

  /**
   * Applies one row change from the event stream. An update or insert of a row the page has is the
   * same thing: the row is replaced whole.
   * @param {string} table
   * @param {'insert' | 'update' | 'delete'} op
   * @param {Row} row
   * @returns {boolean} whether the change could be applied (the row had a key)
   */
  apply(table, op, row) {
    const name = canonicalTable(table);
    const key = keyOf(name, row);
    if (key === undefined) return false;
    const rows = this.#table(name);
    if (op === 'delete') rows.delete(key);
    else {
      const isNew = !rows.has(key);
      rows.set(key, row);
      if (isNew && rows.size > 1) this.#tables.set(name, new Map(sortEntries(rows)));
      this.#trim(name);
    }
    this.#changed(name);
    return true;
  }

  /**
   * Called once per animation frame at most, with the tables that changed since the last call.
   * @param {(tables: ReadonlySet<string>) => void} listener
   */
  subscribe(listener) {
    this.#listeners.add(listener);
  }

  /** @param {string} name */
  #table(name) {
    const canonical = canonicalTable(name);
    let table = this.#tables.get(canonical);
    if (table === undefined) {
      table = new Map();
      this.#tables.set(canonical, table);
    }
    return table;
  }

  /** @param {string} name */
  #trim(name) {
    const limit = KEEP_NEWEST[name];
    const table = this.#tables.get(name);
    if (limit === undefined || table === undefined) return;
    for (const key of table.keys()) {
      if (table.size <= limit) break;
      table.delete(key);
    }
  }

  /** @param {string} name */
  #changed(name) {
    this.#pending.add(name);
    if (this.#scheduled) return;
    this.#scheduled = true;
    const flush = () => {
      this.#scheduled = false;
      const tables = this.#pending;
      this.#pending = new Set();
      for (const listener of this.#listeners) listener(tables);
    };
    if (typeof requestAnimationFrame === 'function' && document.visibilityState === 'visible') {
      requestAnimationFrame(flush);
    } else {
      setTimeout(flush, 0);
    }
  }
}

/**
 * @param {string} table
 * @param {Row[]} rows
 */
function sortByKey(table, rows) {
  return [...rows].sort((a, b) => compareKeys(keyOf(table, a), keyOf(table, b)));
}

/**
 * @param {Map<string, Row>} rows
 */
function sortEntries(rows) {
  return [...rows.entries()].sort(([a], [b]) => compareKeys(a, b));
}

/**
 * Numeric keys in numeric order, names alphabetically.
 * @param {string | undefined} a
 * @param {string | undefined} b
 */
function compareKeys(a, b) {
  if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? -1 : 1;
  const numeric = /^\d+$/;
  if (numeric.test(a) && numeric.test(b)) {
    return a.length === b.length ? (a < b ? -1 : a > b ? 1 : 0) : a.length - b.length;
  }
  return a.localeCompare(b);
}
