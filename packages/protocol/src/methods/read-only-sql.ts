import { ClawError } from '../errors.ts';

/**
 * The rules every read-only SQL path applies before a statement reaches a database (`claw db sql`
 * on the embedded bus through `admin.sql`, and on SpacetimeDB's SQL endpoint with `claw --server`).
 * Each host adds its own locks behind them (a read-only SQLite connection; SpacetimeDB's own
 * permissions), so one mistake in any layer still leaves the data untouched.
 */

/**
 * The first keyword of `sql`, upper-cased, after leading whitespace and comments. A comment that
 * never ends leaves nothing, which is refused as "the statement is empty".
 */
export function leadingSqlKeyword(sql: string): string {
  let rest = sql;
  for (;;) {
    const trimmed = rest.trimStart();
    if (trimmed.startsWith('--')) {
      const end = trimmed.indexOf('\n');
      rest = end === -1 ? '' : trimmed.slice(end + 1);
    } else if (trimmed.startsWith('/*')) {
      const end = trimmed.indexOf('*/');
      rest = end === -1 ? '' : trimmed.slice(end + 2);
    } else {
      return (/^[A-Za-z]+/.exec(trimmed)?.[0] ?? '').toUpperCase();
    }
  }
}

/**
 * How many statements `sql` holds: `;` separates them unless it is inside a quoted string or
 * identifier or a comment; an empty statement (a trailing `;`) does not count.
 */
export function sqlStatementCount(sql: string): number {
  let count = 0;
  let current = '';
  let index = 0;
  const flush = (): void => {
    if (current.trim().length > 0) count += 1;
    current = '';
  };
  while (index < sql.length) {
    const character = sql[index]!;
    const next = sql[index + 1];
    if (character === "'" || character === '"' || character === '`') {
      // Quoted: up to the closing quote (a doubled quote is an escaped one).
      let end = index + 1;
      for (;;) {
        end = sql.indexOf(character, end);
        if (end === -1) {
          end = sql.length;
          break;
        }
        if (sql[end + 1] === character) {
          end += 2;
          continue;
        }
        end += 1;
        break;
      }
      current += sql.slice(index, end);
      index = end;
    } else if (character === '-' && next === '-') {
      const end = sql.indexOf('\n', index);
      index = end === -1 ? sql.length : end + 1;
      current += ' ';
    } else if (character === '/' && next === '*') {
      const end = sql.indexOf('*/', index + 2);
      index = end === -1 ? sql.length : end + 2;
      current += ' ';
    } else if (character === ';') {
      flush();
      index += 1;
    } else {
      current += character;
      index += 1;
    }
  }
  flush();
  return count;
}

/** Refuses anything but one statement starting with one of `keywords` (FORBIDDEN, saying why). */
export function checkReadOnlySql(sql: string, keywords: readonly string[] = ['SELECT', 'WITH']): void {
  const keyword = leadingSqlKeyword(sql);
  if (!keywords.includes(keyword)) {
    refuseSql(keyword === '' ? 'the statement is empty' : `\`${keyword}\` is not a query`);
  }
  if (sqlStatementCount(sql) > 1) refuseSql('give exactly one statement (no `;` chains)');
}

export function refuseSql(reason: string): never {
  throw new ClawError('FORBIDDEN', `Only read-only SELECT statements are allowed: ${reason}`);
}
