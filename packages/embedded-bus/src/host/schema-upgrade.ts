/**
 * Brings an existing SQLite file to the module's schema at open, or refuses it untouched.
 *
 * The module's tables (db-module `describeTables`) are summarised as a fingerprint stored in the meta
 * table. At open the stored fingerprint is compared with this build's: equal, nothing else is read.
 * Otherwise (an older build, or a database made before the fingerprint existed) every table is
 * compared with `PRAGMA table_info`, and with the column types the fingerprint was made from where
 * they were stored. Only changes that add and lose nothing are applied (docs/bus.md, "Schema changes"):
 * - a new table;
 * - a new column that is nullable (existing rows read `none`) or declares `.default(value)` (existing
 *   rows get that value), added at the end of its table;
 * - an index the module declares and the file lacks (a unique one only if the rows are unique), and
 *   the drop of an index the module no longer declares (an index holds no data).
 * They run in one `BEGIN IMMEDIATE` transaction with the new fingerprint. Anything else (a table or
 * column the module no longer has, a changed type or nullability, a new non-null column without a
 * default, a different primary key) refuses the open with SCHEMA_MISMATCH naming each table and
 * column, and the transaction rolls back: a refused open changes nothing in the file.
 */
import { createHash } from 'node:crypto';
import type { TableDescription } from '@clawfleet/db-module';
import { ClawError, type Logger } from '@clawfleet/protocol';
import type BetterSqlite3 from 'better-sqlite3';
import { isNullable, sqliteType, storageEncoder } from './column-codec.ts';
import { SEQUENCE_TABLE, type SqliteTable } from './sqlite-table.ts';

export const META_TABLE = '__clawfleet_meta';
const FINGERPRINT_KEY = 'schema_fingerprint';
/** The column types the fingerprint was made from: `{ table: { column: type JSON } }`. */
const COLUMN_TYPES_KEY = 'schema_column_types';

const quote = (identifier: string): string => `"${identifier.replaceAll('"', '""')}"`;

/** One thing the file has that the module does not accept. */
export interface SchemaProblem {
  table: string;
  column?: string;
  problem: string;
}

export interface SchemaUpgrade {
  /** 'current': the fingerprint matched; 'created': a new file; 'upgraded': changes were applied. */
  outcome: 'current' | 'created' | 'upgraded';
  /** What was added or dropped, one line each (`table inference_usage: added column queued_ms ...`). */
  applied: string[];
}

const typeJson = (type: unknown): string => JSON.stringify(type);

function columnTypes(descriptions: readonly TableDescription[]): Record<string, Record<string, string>> {
  return Object.fromEntries(
    descriptions.map((description) => [
      description.name,
      Object.fromEntries(description.columns.map((column) => [column.name, typeJson(column.type)])),
    ]),
  );
}

const fingerprints = new WeakMap<readonly TableDescription[], string>();

/** sha256 of everything in the descriptions that shapes the SQLite file. Cached per description list. */
export function schemaFingerprint(descriptions: readonly TableDescription[]): string {
  let fingerprint = fingerprints.get(descriptions);
  if (fingerprint === undefined) {
    const canonical = descriptions.map((description) => ({
      name: description.name,
      columns: description.columns.map((column) => [
        column.name,
        typeJson(column.type),
        Object.hasOwn(column, 'defaultValue') ? typeJson(defaultLiteral(column.type, column.defaultValue)) : null,
      ]),
      primaryKey: description.primaryKey,
      indexes: description.indexes,
      autoIncrement: description.autoIncrement,
    }));
    fingerprint = createHash('sha256').update(JSON.stringify(canonical)).digest('hex');
    fingerprints.set(descriptions, fingerprint);
  }
  return fingerprint;
}

/** The SQL literal for a declared default, or undefined when the type has no literal form here. */
function defaultLiteral(type: TableDescription['columns'][number]['type'], value: unknown): string | undefined {
  let stored: unknown;
  try {
    stored = storageEncoder(type)(value);
  } catch {
    return undefined;
  }
  if (stored === null) return 'NULL';
  if (typeof stored === 'bigint') return stored.toString();
  if (typeof stored === 'number' && Number.isFinite(stored)) return String(stored);
  if (typeof stored === 'string') return `'${stored.replaceAll("'", "''")}'`;
  return undefined;
}

interface TableInfoRow {
  name: string;
  type: string;
  notnull: number;
  pk: number;
}

interface IndexListRow {
  name: string;
  unique: number;
  origin: string;
}

/** Index name the host gives a declared index (sqlite-table.ts createSchema). */
function indexName(table: string, index: TableDescription['indexes'][number]): string {
  return `${table}_${index.accessor}_${index.unique ? 'unique' : 'btree'}`;
}

function readMeta(database: BetterSqlite3.Database, key: string): string | undefined {
  const row = database.prepare(`SELECT value FROM ${META_TABLE} WHERE key = ?`).get(key) as
    | { value: string }
    | undefined;
  return row?.value;
}

function hasTable(database: BetterSqlite3.Database, name: string): boolean {
  return database.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(name) !== undefined;
}

/** One clause per table and kind of problem: `inference_usage.method, .outcome are new and NOT NULL ...`. */
function describeProblems(problems: readonly SchemaProblem[]): string {
  const groups = new Map<string, { table: string; columns: string[]; problem: string }>();
  for (const problem of problems) {
    const key = `${problem.table}|${problem.column === undefined ? 'table' : 'column'}|${problem.problem}`;
    const group = groups.get(key) ?? { table: problem.table, columns: [], problem: problem.problem };
    if (problem.column !== undefined) group.columns.push(problem.column);
    groups.set(key, group);
  }
  return [...groups.values()]
    .map(({ table, columns, problem }) => {
      if (columns.length === 0) return `${table} ${problem}`;
      const verb = columns.length === 1 ? problem : problem.replace(/^is /, 'are ');
      return `${table}.${columns.join(', .')} ${verb}`;
    })
    .join('; ');
}

function mismatch(path: string, problems: SchemaProblem[]): ClawError {
  return new ClawError(
    'SCHEMA_MISMATCH',
    `The database ${path} was made by another version of Clawfleet and cannot be upgraded in place: ${describeProblems(problems)}`,
    {
      retryable: false,
      details: {
        path,
        problems: problems.map((problem) => ({ ...problem })),
        fix: 'Back up the data directory and move it aside to start with a new database, or migrate the data (docs/bus.md, "Schema changes")',
      },
    },
  );
}

/**
 * Checks the open `database` against `tables` and applies the safe additions (module comment).
 * Throws ClawError SCHEMA_MISMATCH, with nothing in the file changed, when it cannot.
 */
export function upgradeSchema(
  database: BetterSqlite3.Database,
  path: string,
  descriptions: readonly TableDescription[],
  tables: ReadonlyMap<string, SqliteTable>,
  logger: Logger,
): SchemaUpgrade {
  const fingerprint = schemaFingerprint(descriptions);
  if (hasTable(database, META_TABLE) && readMeta(database, FINGERPRINT_KEY) === fingerprint) {
    return { outcome: 'current', applied: [] };
  }
  const applied: string[] = [];
  let created = false;
  database.prepare('BEGIN IMMEDIATE').run();
  try {
    const existing = new Set(
      (
        database
          .prepare(
            `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_\\_clawfleet\\_%' ESCAPE '\\'`,
          )
          .all() as { name: string }[]
      ).map((row) => row.name),
    );
    created = existing.size === 0;
    const storedTypesText = hasTable(database, META_TABLE) ? readMeta(database, COLUMN_TYPES_KEY) : undefined;
    const storedTypes =
      storedTypesText === undefined ? {} : (JSON.parse(storedTypesText) as Record<string, Record<string, string>>);
    const problems: SchemaProblem[] = [];
    const work: (() => void)[] = [];
    const described = new Set(descriptions.map((description) => description.name));
    for (const name of existing) {
      if (!described.has(name)) {
        problems.push({ table: name, problem: 'is in the file but no longer in the module (its rows would be lost)' });
      }
    }
    for (const description of descriptions) {
      const table = tables.get(description.name)!;
      if (!existing.has(description.name)) {
        work.push(() => {
          table.createSchema();
          if (!created) applied.push(`table ${description.name}: created`);
        });
        continue;
      }
      const columns = database.prepare(`PRAGMA table_info(${quote(description.name)})`).all() as TableInfoRow[];
      const wanted = new Map(description.columns.map((column) => [column.name, column]));
      for (const column of columns) {
        const declared = wanted.get(column.name);
        if (declared === undefined) {
          problems.push({
            table: description.name,
            column: column.name,
            problem: 'is in the file but no longer in the module (its values would be lost)',
          });
          continue;
        }
        const type = sqliteType(declared.type);
        const notNull = !isNullable(declared.type);
        const storedType = storedTypes[description.name]?.[column.name];
        if (column.type.toUpperCase() !== type || (column.notnull === 1) !== notNull) {
          problems.push({
            table: description.name,
            column: column.name,
            problem: `changed from ${column.type}${column.notnull === 1 ? ' NOT NULL' : ''} to ${type}${notNull ? ' NOT NULL' : ''}`,
          });
        } else if (storedType !== undefined && storedType !== typeJson(declared.type)) {
          problems.push({
            table: description.name,
            column: column.name,
            problem: `changed type from ${storedType} to ${typeJson(declared.type)}`,
          });
        }
      }
      const primaryKey = columns.filter((column) => column.pk > 0).map((column) => column.name);
      if (primaryKey.join(',') !== description.primaryKey.join(',')) {
        problems.push({
          table: description.name,
          problem: `has primary key (${primaryKey.join(', ')}) in the file and (${description.primaryKey.join(', ')}) in the module`,
        });
      }
      const present = new Set(columns.map((column) => column.name));
      for (const column of description.columns) {
        if (present.has(column.name)) continue;
        const type = sqliteType(column.type);
        if (description.autoIncrement.includes(column.name) || description.primaryKey.includes(column.name)) {
          problems.push({
            table: description.name,
            column: column.name,
            problem: 'is new and a key or auto-increment column, which existing rows have no value for',
          });
        } else if (isNullable(column.type)) {
          work.push(() => {
            database.exec(`ALTER TABLE ${quote(description.name)} ADD COLUMN ${quote(column.name)} ${type}`);
            applied.push(`table ${description.name}: added column ${column.name} (existing rows: none)`);
          });
        } else if (Object.hasOwn(column, 'defaultValue')) {
          const literal = defaultLiteral(column.type, column.defaultValue);
          if (literal === undefined || literal === 'NULL') {
            problems.push({
              table: description.name,
              column: column.name,
              problem: 'is new and NOT NULL with a default the embedded host cannot write as SQL',
            });
            continue;
          }
          work.push(() => {
            database.exec(
              `ALTER TABLE ${quote(description.name)} ADD COLUMN ${quote(column.name)} ${type} NOT NULL DEFAULT ${literal}`,
            );
            applied.push(`table ${description.name}: added column ${column.name} (existing rows: ${literal})`);
          });
        } else {
          problems.push({
            table: description.name,
            column: column.name,
            problem: 'is new and NOT NULL without a default (declare `.default(value)` in db-module, or migrate)',
          });
        }
      }
      work.push(() => {
        const wantedIndexes = new Map(
          description.indexes
            .filter((index) => !(index.columns.length === 1 && index.columns[0] === description.primaryKey[0]))
            .map((index) => [indexName(description.name, index), index]),
        );
        const indexes = database.prepare(`PRAGMA index_list(${quote(description.name)})`).all() as IndexListRow[];
        for (const index of indexes) {
          if (index.origin !== 'c') continue;
          const declared = wantedIndexes.get(index.name);
          const indexColumns = (
            database.prepare(`PRAGMA index_info(${quote(index.name)})`).all() as { name: string }[]
          ).map((column) => column.name);
          if (
            declared === undefined ||
            declared.columns.join(',') !== indexColumns.join(',') ||
            declared.unique !== (index.unique === 1)
          ) {
            database.exec(`DROP INDEX ${quote(index.name)}`);
            applied.push(`table ${description.name}: dropped index ${index.name} (the module no longer declares it)`);
          }
        }
        const before = new Set(indexes.map((index) => index.name));
        try {
          table.createSchema();
        } catch (error) {
          if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
            throw mismatch(path, [
              {
                table: description.name,
                problem: `has rows that repeat a value of a new unique index (${(error as Error).message})`,
              },
            ]);
          }
          throw error;
        }
        for (const name of wantedIndexes.keys()) {
          if (!before.has(name)) applied.push(`table ${description.name}: created index ${name}`);
        }
      });
    }
    if (problems.length > 0) throw mismatch(path, problems);
    database.exec(
      `CREATE TABLE IF NOT EXISTS ${SEQUENCE_TABLE} (table_name TEXT NOT NULL, column_name TEXT NOT NULL, next_value INTEGER NOT NULL, PRIMARY KEY (table_name, column_name)) STRICT`,
    );
    database.exec(`CREATE TABLE IF NOT EXISTS ${META_TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT`);
    for (const step of work) step();
    const write = database.prepare(
      `INSERT INTO ${META_TABLE} (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
    );
    write.run(FINGERPRINT_KEY, fingerprint);
    write.run(COLUMN_TYPES_KEY, JSON.stringify(columnTypes(descriptions)));
    database.prepare('COMMIT').run();
  } catch (error) {
    if (database.inTransaction) database.prepare('ROLLBACK').run();
    throw error;
  }
  if (created) return { outcome: 'created', applied: [] };
  if (applied.length === 0) {
    logger.info({ path }, 'database schema matches this version; recorded its fingerprint');
  } else {
    logger.warn({ path, applied }, `upgraded the database schema in place: ${applied.join('; ')}`);
  }
  return { outcome: 'upgraded', applied };
}
