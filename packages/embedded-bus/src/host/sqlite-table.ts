/**
 * One module table stored in SQLite, exposing the reducer-facing handle of db-module's narrow context:
 * `insert`, `delete`, `iter`, `count`, and one accessor per index (`find`/`delete`, `update` on the
 * primary key, `filter` on btree indexes). Every write is recorded so the host can publish the
 * transaction's row changes after commit.
 */
import type { TableDescription } from '@clawfleet/db-module';
import type { RowChange } from '@clawfleet/protocol';
import type BetterSqlite3 from 'better-sqlite3';
import { type Converter, isNullable, sqliteType, storageDecoder, storageEncoder } from './column-codec.ts';

export type RuntimeRow = Record<string, unknown>;

export type RuntimeChange = RowChange<RuntimeRow>;

/** Raised for writes SpacetimeDB itself refuses (duplicate unique value, update of a missing row). */
export class TableConstraintError extends Error {
  override name = 'TableConstraintError';
}

const quote = (identifier: string): string => `"${identifier.replaceAll('"', '""')}"`;

export const SEQUENCE_TABLE = '__clawfleet_sequence';

interface ColumnPlan {
  readonly name: string;
  readonly nullable: boolean;
  /** Stored as TEXT: SQLite converts a number written here to text its own way. */
  readonly text: boolean;
  readonly encode: Converter;
  readonly decode: Converter;
}

interface ColumnSelects {
  readonly equal: BetterSqlite3.Statement;
  readonly isNull: BetterSqlite3.Statement;
}

function isConstraintError(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as { code?: unknown }).code === 'string' &&
    (error as { code: string }).code.startsWith('SQLITE_CONSTRAINT')
  );
}

// SQLite stores text as UTF-8, which cannot hold a lone surrogate: such a string reads back changed.
const LONE_SURROGATE = /\p{Surrogate}/u;

export class SqliteTable {
  readonly description: TableDescription;
  readonly #database: BetterSqlite3.Database;
  readonly #record: (change: RuntimeChange) => void;
  readonly #primaryKey: string;
  readonly #columns: readonly ColumnPlan[];
  readonly #columnByName: ReadonlyMap<string, ColumnPlan>;
  readonly #primaryKeyColumn: ColumnPlan;
  readonly #columnList: string;
  /** Unique indexes, in declaration order: the order their violations are reported in. */
  readonly #uniqueColumns: readonly string[];
  /**
   * Unique indexes SQLite does not enforce exactly as the host reports them (nullable: SQLite lets NULLs
   * repeat): checked before each write. The others are left to SQLite, and only a write it refused is
   * checked again to report which index it broke, with the same message.
   */
  readonly #checkedBeforeWrite: readonly string[];
  readonly #selects = new Map<string, ColumnSelects>();
  readonly #selectsWhere = new Map<string, BetterSqlite3.Statement>();
  readonly #sequences = new Map<string, BetterSqlite3.Statement>();
  #insertStatement: BetterSqlite3.Statement | undefined;
  #updateStatement: BetterSqlite3.Statement | undefined;
  #deleteStatement: BetterSqlite3.Statement | undefined;
  #allStatement: BetterSqlite3.Statement | undefined;
  #countStatement: BetterSqlite3.Statement | undefined;

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
    this.#columns = description.columns.map((column) => ({
      name: column.name,
      nullable: isNullable(column.type),
      text: sqliteType(column.type) === 'TEXT',
      encode: storageEncoder(column.type),
      decode: storageDecoder(column.type),
    }));
    this.#columnByName = new Map(this.#columns.map((column) => [column.name, column]));
    this.#primaryKeyColumn = this.#column(this.#primaryKey);
    this.#columnList = this.#columns.map((column) => quote(column.name)).join(', ');
    const unique = description.indexes.filter((index) => index.unique);
    this.#uniqueColumns = unique.map((index) => index.columns[0]!);
    this.#checkedBeforeWrite = unique
      .filter((index) => index.columns.length !== 1 || this.#column(index.columns[0]!).nullable)
      .map((index) => index.columns[0]!);
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

  /** Prepares a statement that returns rows as arrays in column order, 64-bit integers as bigint. */
  #prepareSelect(sql: string): BetterSqlite3.Statement {
    const statement = this.#database.prepare(sql);
    statement.safeIntegers(true);
    statement.raw(true);
    return statement;
  }

  #column(name: string): ColumnPlan {
    const column = this.#columnByName.get(name);
    if (column === undefined) throw new Error(`Table ${this.description.name} has no column ${name}`);
    return column;
  }

  #selectsFor(column: string): ColumnSelects {
    let selects = this.#selects.get(column);
    if (selects === undefined) {
      const from = `SELECT ${this.#columnList} FROM ${quote(this.description.name)}`;
      selects = {
        equal: this.#prepareSelect(`${from} WHERE ${quote(column)} = ?`),
        isNull: this.#prepareSelect(`${from} WHERE ${quote(column)} IS NULL`),
      };
      this.#selects.set(column, selects);
    }
    return selects;
  }

  #decode(stored: readonly unknown[]): RuntimeRow {
    const row: RuntimeRow = {};
    const columns = this.#columns;
    for (let index = 0; index < columns.length; index++) {
      const column = columns[index]!;
      row[column.name] = column.decode(stored[index]);
    }
    return row;
  }

  #encode(row: RuntimeRow): unknown[] {
    const columns = this.#columns;
    const values = new Array<unknown>(columns.length);
    for (let index = 0; index < columns.length; index++) {
      const column = columns[index]!;
      values[index] = column.encode(row[column.name]);
    }
    return values;
  }

  /**
   * The row as SQLite now holds it, decoded from the values just written rather than read back: the
   * same result, since every column value round-trips exactly, except what SQLite converts on the way
   * in: text with a lone surrogate (UTF-8 cannot hold it) and a number in a TEXT column (a reducer
   * bug, stored as SQLite formats it). Such a row is read back.
   */
  #written(values: readonly unknown[], key: unknown): RuntimeRow {
    const columns = this.#columns;
    for (let index = 0; index < values.length; index++) {
      const value = values[index];
      const converted = typeof value === 'string' ? LONE_SURROGATE.test(value) : value !== null && columns[index]!.text;
      if (converted) return this.#findOne(this.#primaryKey, key)!;
    }
    return this.#decode(values);
  }

  #nextSequenceValue(column: string): bigint {
    let statement = this.#sequences.get(column);
    if (statement === undefined) {
      // One statement instead of a read and a write: returns the value handed out and stores the next.
      statement = this.#database.prepare(
        `INSERT INTO ${SEQUENCE_TABLE} (table_name, column_name, next_value) VALUES (?, ?, 2)
         ON CONFLICT (table_name, column_name) DO UPDATE SET next_value = next_value + 1
         RETURNING next_value - 1`,
      );
      statement.safeIntegers(true);
      statement.pluck(true);
      this.#sequences.set(column, statement);
    }
    return statement.get(this.description.name, column) as bigint;
  }

  /** Finds rows where `column` equals `key` (runtime value). */
  select(column: string, key: unknown): RuntimeRow[] {
    const stored = this.#column(column).encode(key);
    const selects = this.#selectsFor(column);
    const rows = (stored === null ? selects.isNull.all() : selects.equal.all(stored)) as unknown[][];
    const result = new Array<RuntimeRow>(rows.length);
    for (let index = 0; index < rows.length; index++) result[index] = this.#decode(rows[index]!);
    return result;
  }

  /** The first row where `column` equals `key`, as `select(column, key)[0]`. */
  #findOne(column: string, key: unknown): RuntimeRow | undefined {
    const stored = this.#column(column).encode(key);
    const selects = this.#selectsFor(column);
    const row = (stored === null ? selects.isNull.get() : selects.equal.get(stored)) as unknown[] | undefined;
    return row === undefined ? undefined : this.#decode(row);
  }

  /** Rows matching every column = value pair of `where` (storage-converted here). */
  selectWhere(where: Record<string, unknown>): RuntimeRow[] {
    const entries = Object.entries(where);
    if (entries.length === 0) return this.all();
    const clauses: string[] = [];
    const values: unknown[] = [];
    for (const [column, value] of entries) {
      const stored = this.#column(column).encode(value);
      if (stored === null) clauses.push(`${quote(column)} IS NULL`);
      else {
        clauses.push(`${quote(column)} = ?`);
        values.push(stored);
      }
    }
    const condition = clauses.join(' AND ');
    let statement = this.#selectsWhere.get(condition);
    if (statement === undefined) {
      statement = this.#prepareSelect(
        `SELECT ${this.#columnList} FROM ${quote(this.description.name)} WHERE ${condition}`,
      );
      // Column names are the module's, so the distinct clauses are few.
      this.#selectsWhere.set(condition, statement);
    }
    return (statement.all(values) as unknown[][]).map((row) => this.#decode(row));
  }

  all(): RuntimeRow[] {
    this.#allStatement ??= this.#prepareSelect(
      `SELECT ${this.#columnList} FROM ${quote(this.description.name)} ORDER BY ${quote(this.#primaryKey)}`,
    );
    return (this.#allStatement.all() as unknown[][]).map((row) => this.#decode(row));
  }

  count(): bigint {
    if (this.#countStatement === undefined) {
      this.#countStatement = this.#database.prepare(`SELECT COUNT(*) FROM ${quote(this.description.name)}`);
      this.#countStatement.safeIntegers(true);
      this.#countStatement.pluck(true);
    }
    return this.#countStatement.get() as bigint;
  }

  #assertUnique(row: RuntimeRow, columns: readonly string[], exceptKey?: unknown): void {
    for (const column of columns) {
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
    const encode = this.#primaryKeyColumn.encode;
    return encode(a) === encode(b);
  }

  /** Runs a write; a constraint SQLite refused is reported as the unique index it broke, if it was one. */
  #write(statement: BetterSqlite3.Statement, values: unknown[], row: RuntimeRow, exceptKey?: unknown): void {
    try {
      statement.run(values);
    } catch (error) {
      // SQLite undid the failed statement only; the lookups below see the table as before it.
      if (isConstraintError(error)) this.#assertUnique(row, this.#uniqueColumns, exceptKey);
      throw error;
    }
  }

  insert(input: RuntimeRow): RuntimeRow {
    const row: RuntimeRow = { ...input };
    for (const column of this.description.autoIncrement) {
      // As in SpacetimeDB: an auto-increment column given as zero is assigned the next sequence value.
      if (row[column] === 0n || row[column] === 0) row[column] = this.#nextSequenceValue(column);
    }
    if (this.#checkedBeforeWrite.length > 0) this.#assertUnique(row, this.#checkedBeforeWrite);
    const values = this.#encode(row);
    this.#insertStatement ??= this.#database.prepare(
      `INSERT INTO ${quote(this.description.name)} (${this.#columnList}) VALUES (${this.#columns.map(() => '?').join(', ')})`,
    );
    this.#write(this.#insertStatement, values, row);
    const stored = this.#written(values, row[this.#primaryKey]);
    this.#record({ table: this.description.name, op: 'insert', row: stored });
    return stored;
  }

  update(input: RuntimeRow): RuntimeRow {
    const key = input[this.#primaryKey];
    const old = this.#findOne(this.#primaryKey, key);
    if (old === undefined) {
      throw new TableConstraintError(
        `Cannot update ${this.description.name}: no row has ${this.#primaryKey} ${String(key)}`,
      );
    }
    if (this.#checkedBeforeWrite.length > 0) this.#assertUnique(input, this.#checkedBeforeWrite, key);
    const values = this.#encode(input);
    this.#updateStatement ??= this.#database.prepare(
      `UPDATE ${quote(this.description.name)} SET ${this.#columns.map((column) => `${quote(column.name)} = ?`).join(', ')} WHERE ${quote(this.#primaryKey)} = ?`,
    );
    this.#write(this.#updateStatement, [...values, this.#primaryKeyColumn.encode(key)], input, key);
    const stored = this.#written(values, key);
    this.#record({ table: this.description.name, op: 'update', row: stored, oldRow: old });
    return stored;
  }

  /** Deletes the rows where `column` equals `key`; returns how many were deleted. */
  deleteWhere(column: string, key: unknown): number {
    const rows = this.select(column, key);
    this.#deleteStatement ??= this.#database.prepare(
      `DELETE FROM ${quote(this.description.name)} WHERE ${quote(this.#primaryKey)} = ?`,
    );
    for (const row of rows) {
      this.#deleteStatement.run(this.#primaryKeyColumn.encode(row[this.#primaryKey]));
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
          find: (key: unknown) => this.#findOne(column, key) ?? null,
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
