import { ADMIN_SQL_MAX_ROWS, type AdminSqlResult, ClawError, checkReadOnlySql, refuseSql } from '@clawfleet/protocol';
import Database from 'better-sqlite3';

function plainValue(value: unknown): unknown {
  if (typeof value === 'bigint') {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  }
  if (Buffer.isBuffer(value)) return value.toString('hex');
  return value;
}

/**
 * SQL on the embedded bus's SQLite file for people (`claw db sql`), which can never write. Four
 * independent locks, so one mistake in any of them still leaves the data untouched:
 * - the connection is opened read-only (SQLITE_OPEN_READONLY) and with `query_only`;
 * - one statement only: better-sqlite3 refuses a string with a second statement (`; DROP ...`);
 * - the first keyword must be SELECT or WITH (no PRAGMA, ATTACH, VACUUM INTO ...), the rule
 *   `claw --server` applies before SpacetimeDB too (`checkReadOnlySql` in protocol);
 * - SQLite itself must call the prepared statement read-only (`sqlite3_stmt_readonly`) and
 *   returning rows, which catches `WITH ... DELETE` and writing functions.
 */
export class ReadOnlySql {
  readonly #database: Database.Database;

  constructor(path: string) {
    try {
      this.#database = new Database(path, { readonly: true, fileMustExist: true });
      this.#database.pragma('query_only = ON');
      this.#database.pragma('busy_timeout = 5000');
    } catch (error) {
      throw new ClawError('DATABASE_ERROR', `Could not open ${path} read-only: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  query(sql: string, maxRows = 1000): AdminSqlResult {
    // The rules every read-only SQL path shares (first keyword, one statement); SQLite's own below.
    checkReadOnlySql(sql, ['SELECT', 'WITH']);
    let statement: Database.Statement;
    try {
      statement = this.#database.prepare(sql);
    } catch (error) {
      const message = (error as Error).message;
      if (/more than one statement/i.test(message)) refuseSql('give exactly one statement (no `;` chains)');
      throw new ClawError('INVALID_PARAMS', `SQL error: ${message}`);
    }
    if (!statement.readonly) refuseSql('the statement would write');
    if (!statement.reader) refuseSql('the statement returns no rows');
    statement.safeIntegers(true).raw(true);
    const limit = Math.min(maxRows, ADMIN_SQL_MAX_ROWS);
    const rows: unknown[][] = [];
    let truncated = false;
    try {
      for (const row of statement.iterate() as Iterable<unknown[]>) {
        if (rows.length === limit) {
          truncated = true;
          break;
        }
        rows.push(row.map(plainValue));
      }
    } catch (error) {
      throw new ClawError('INVALID_PARAMS', `SQL error: ${(error as Error).message}`);
    }
    return { columns: statement.columns().map((column) => column.name), rows, truncated };
  }

  close(): void {
    this.#database.close();
  }
}
