/**
 * One module table stored in SQLite, exposing the reducer-facing handle of db-module's narrow context:
 * `insert`, `delete`, `iter`, `count`, and one accessor per index (`find`/`delete`, `update` on the
 * primary key, `filter` on btree indexes). Every write is recorded so the host can publish the
 * transaction's row changes after commit.
 */
import type { TableDescription } from '@clawfleet/db-module';
import type BetterSqlite3 from 'better-sqlite3';
import { fromStorage, isNullable, sqliteType, toStorage } from './column-codec.ts';

export type RuntimeRow = Record<string, unknown>;

export interface RuntimeChange {
  table: string;
  op: 'insert' | 'update' | 'delete';
  row: RuntimeRow;
  oldRow?: RuntimeRow;
}

/** Raised for writes SpacetimeDB itself refuses (duplicate unique value, update of a missing row). */
export class TableConstraintError extends Error {
  override name = 'TableConstraintError';
}

const quote = (identifier: string): string => `"${identifier.replaceAll('"', '""')}"`;

export const SEQUENCE_TABLE = '__clawfleet_sequence';

export class SqliteTable {
  readonly description: TableDescription;
  readonly #database: BetterSqlite3.Database;
  readonly #record: (change: RuntimeChange) => void;
  readonly #statements = new Map<string, BetterSqlite3.Statement>();
  readonly #primaryKey: string;

  constructor(
    database: BetterSqlite3.Database,
    description: TableDescription,
    record: (change: RuntimeChange) => void,
  ) {
    if (description.primaryKey.length !== 1) {
      throw new Error(`Table ${description.name} needs exactly one primary key column for the embedded host`);
    }
    this.#database = database;
    this.description = description;
    this.#record = record;
    this.#primaryKey = description.primaryKey[0]!;
  }

  /** DDL for the table, its unique and btree indexes. Idempotent. */
  createSchema(): void {
    const { name, columns } = this.description;
    const definitions = columns.map(
      (column) => `${quote(column.name)} ${sqliteType(column.type)}${isNullable(column.type) ? '' : ' NOT NULL'}`,
    );
    definitions.push(`PRIMARY KEY (${quote(this.#primaryKey)})`);
    this.#database.exec(`CREATE TABLE IF NOT EXISTS ${quote(name)} (${definitions.join(', ')}) STRICT`);
    for (const index of this.description.indexes) {
      if (index.columns.length === 1 && index.columns[0] === this.#primaryKey) continue;
      const indexName = quote(`${name}_${index.accessor}_${index.unique ? 'unique' : 'btree'}`);
      this.#database.exec(
        `CREATE ${index.unique ? 'UNIQUE ' : ''}INDEX IF NOT EXISTS ${indexName} ON ${quote(name)} (${index.columns.map(quote).join(', ')})`,
      );
    }
  }

  #statement(key: string, sql: () => string): BetterSqlite3.Statement {
    let statement = this.#statements.get(key);
    if (statement === undefined) {
      statement = this.#database.prepare(sql());
      if (statement.reader) statement.safeIntegers(true);
      this.#statements.set(key, statement);
    }
    return statement;
  }

  #column(name: string) {
    const column = this.description.columns.find((candidate) => candidate.name === name);
    if (column === undefined) throw new Error(`Table ${this.description.name} has no column ${name}`);
    return column;
  }

  #decode(stored: Record<string, unknown>): RuntimeRow {
    const row: RuntimeRow = {};
    for (const column of this.description.columns) row[column.name] = fromStorage(column.type, stored[column.name]);
    return row;
  }

  #encode(row: RuntimeRow): unknown[] {
    return this.description.columns.map((column) => toStorage(column.type, row[column.name]));
  }

  #nextSequenceValue(column: string): bigint {
    const select = this.#statement(
      `sequence-select:${column}`,
      () => `SELECT next_value FROM ${SEQUENCE_TABLE} WHERE table_name = ? AND column_name = ?`,
    );
    const found = select.get(this.description.name, column) as { next_value: bigint } | undefined;
    const value = found?.next_value ?? 1n;
    this.#statement(
      `sequence-upsert:${column}`,
      () =>
        `INSERT INTO ${SEQUENCE_TABLE} (table_name, column_name, next_value) VALUES (?, ?, ?)
       ON CONFLICT (table_name, column_name) DO UPDATE SET next_value = excluded.next_value`,
    ).run(this.description.name, column, value + 1n);
    return value;
  }

  /** Finds rows where `column` equals `key` (runtime value). */
  select(column: string, key: unknown): RuntimeRow[] {
    const type = this.#column(column).type;
    const stored = toStorage(type, key);
    const rows =
      stored === null
        ? this.#statement(
            `select-null:${column}`,
            () => `SELECT * FROM ${quote(this.description.name)} WHERE ${quote(column)} IS NULL`,
          ).all()
        : this.#statement(
            `select:${column}`,
            () => `SELECT * FROM ${quote(this.description.name)} WHERE ${quote(column)} = ?`,
          ).all(stored);
    return (rows as Record<string, unknown>[]).map((row) => this.#decode(row));
  }

  /** Rows matching every column = value pair of `where` (storage-converted here). */
  selectWhere(where: Record<string, unknown>): RuntimeRow[] {
    const entries = Object.entries(where);
    if (entries.length === 0) return this.all();
    const clauses: string[] = [];
    const values: unknown[] = [];
    for (const [column, value] of entries) {
      const stored = toStorage(this.#column(column).type, value);
      if (stored === null) clauses.push(`${quote(column)} IS NULL`);
      else {
        clauses.push(`${quote(column)} = ?`);
        values.push(stored);
      }
    }
    const statement = this.#database.prepare(
      `SELECT * FROM ${quote(this.description.name)} WHERE ${clauses.join(' AND ')}`,
    );
    statement.safeIntegers(true);
    return (statement.all(...values) as Record<string, unknown>[]).map((row) => this.#decode(row));
  }

  all(): RuntimeRow[] {
    const rows = this.#statement(
      'all',
      () => `SELECT * FROM ${quote(this.description.name)} ORDER BY ${quote(this.#primaryKey)}`,
    ).all();
    return (rows as Record<string, unknown>[]).map((row) => this.#decode(row));
  }

  count(): bigint {
    const result = this.#statement(
      'count',
      () => `SELECT COUNT(*) AS count FROM ${quote(this.description.name)}`,
    ).get() as {
      count: bigint;
    };
    return result.count;
  }

  #assertUnique(row: RuntimeRow, exceptKey?: unknown): void {
    for (const index of this.description.indexes) {
      if (!index.unique) continue;
      const column = index.columns[0]!;
      const existing = this.select(column, row[column]);
      const clash = existing.find(
        (other) => exceptKey === undefined || !this.#sameKey(other[this.#primaryKey], exceptKey),
      );
      if (clash !== undefined) {
        throw new TableConstraintError(
          `Unique constraint violated: ${this.description.name}.${column} already has this value`,
        );
      }
    }
  }

  #sameKey(a: unknown, b: unknown): boolean {
    const type = this.#column(this.#primaryKey).type;
    return toStorage(type, a) === toStorage(type, b);
  }

  insert(input: RuntimeRow): RuntimeRow {
    const row: RuntimeRow = { ...input };
    for (const column of this.description.autoIncrement) {
      // As in SpacetimeDB: an auto-increment column given as zero is assigned the next sequence value.
      if (row[column] === 0n || row[column] === 0) row[column] = this.#nextSequenceValue(column);
    }
    this.#assertUnique(row);
    const columns = this.description.columns.map((column) => quote(column.name)).join(', ');
    const placeholders = this.description.columns.map(() => '?').join(', ');
    this.#statement(
      'insert',
      () => `INSERT INTO ${quote(this.description.name)} (${columns}) VALUES (${placeholders})`,
    ).run(...this.#encode(row));
    const stored = this.select(this.#primaryKey, row[this.#primaryKey])[0]!;
    this.#record({ table: this.description.name, op: 'insert', row: stored });
    return stored;
  }

  update(input: RuntimeRow): RuntimeRow {
    const key = input[this.#primaryKey];
    const old = this.select(this.#primaryKey, key)[0];
    if (old === undefined) {
      throw new TableConstraintError(
        `Cannot update ${this.description.name}: no row has ${this.#primaryKey} ${String(key)}`,
      );
    }
    this.#assertUnique(input, key);
    const assignments = this.description.columns.map((column) => `${quote(column.name)} = ?`).join(', ');
    this.#statement(
      'update',
      () => `UPDATE ${quote(this.description.name)} SET ${assignments} WHERE ${quote(this.#primaryKey)} = ?`,
    ).run(...this.#encode(input), toStorage(this.#column(this.#primaryKey).type, key));
    const stored = this.select(this.#primaryKey, key)[0]!;
    this.#record({ table: this.description.name, op: 'update', row: stored, oldRow: old });
    return stored;
  }

  /** Deletes the rows where `column` equals `key`; returns how many were deleted. */
  deleteWhere(column: string, key: unknown): number {
    const rows = this.select(column, key);
    for (const row of rows) {
      this.#statement(
        'delete',
        () => `DELETE FROM ${quote(this.description.name)} WHERE ${quote(this.#primaryKey)} = ?`,
      ).run(toStorage(this.#column(this.#primaryKey).type, row[this.#primaryKey]));
      this.#record({ table: this.description.name, op: 'delete', row });
    }
    return rows.length;
  }

  /** The object reducers see as `ctx.db.<table>`. */
  handle(): Record<string, unknown> {
    const handle: Record<string, unknown> = {
      insert: (row: RuntimeRow) => this.insert(row),
      delete: (row: RuntimeRow) => this.deleteWhere(this.#primaryKey, row[this.#primaryKey]) > 0,
      iter: () => this.all(),
      [Symbol.iterator]: () => this.all()[Symbol.iterator](),
      count: () => this.count(),
    };
    for (const index of this.description.indexes) {
      const column = index.columns[0]!;
      if (index.columns.length !== 1) continue;
      if (index.unique) {
        const accessor: Record<string, unknown> = {
          find: (key: unknown) => this.select(column, key)[0] ?? null,
          delete: (key: unknown) => this.deleteWhere(column, key) > 0,
        };
        if (column === this.#primaryKey) accessor.update = (row: RuntimeRow) => this.update(row);
        handle[index.accessor] = accessor;
      } else {
        handle[index.accessor] = {
          filter: (key: unknown) => this.select(column, key),
          delete: (key: unknown) => this.deleteWhere(column, key),
        };
      }
    }
    return handle;
  }
}
