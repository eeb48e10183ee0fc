import { describe, expect, it } from 'vitest';
import { ClawError } from '../errors.ts';
import { checkReadOnlySql, leadingSqlKeyword, sqlStatementCount } from './read-only-sql.ts';

function refusal(sql: string, keywords?: readonly string[]): string {
  try {
    checkReadOnlySql(sql, keywords);
  } catch (error) {
    expect(error).toBeInstanceOf(ClawError);
    expect((error as ClawError).code).toBe('FORBIDDEN');
    return (error as ClawError).message;
  }
  return 'accepted';
}

describe('read-only SQL rules', () => {
  it('accepts one SELECT, with comments, a trailing `;`, and `;` inside strings', () => {
    expect(refusal('SELECT * FROM agent')).toBe('accepted');
    expect(refusal('  -- who is there\n/* all */ select name from agent;  ')).toBe('accepted');
    expect(refusal("SELECT * FROM message WHERE text = 'a; DROP TABLE agent'")).toBe('accepted');
    expect(refusal("SELECT * FROM message WHERE text = 'it''s; fine'")).toBe('accepted');
    expect(refusal('WITH t AS (SELECT 1) SELECT * FROM t')).toBe('accepted');
  });

  it('refuses what writes, an empty statement, and a chain of statements', () => {
    expect(refusal('DELETE FROM agent')).toMatch(/`DELETE` is not a query/);
    expect(refusal('insert into agent values (1)')).toMatch(/`INSERT` is not a query/);
    expect(refusal('   ')).toMatch(/the statement is empty/);
    expect(refusal('/* never closed SELECT * FROM agent')).toMatch(/the statement is empty/);
    expect(refusal('SELECT 1; DELETE FROM agent')).toMatch(/exactly one statement/);
    expect(refusal("SELECT 'x'; UPDATE agent SET role = 'y'")).toMatch(/exactly one statement/);
  });

  it('takes the keywords a host understands (SpacetimeDB has no WITH)', () => {
    expect(refusal('WITH t AS (SELECT 1) SELECT * FROM t', ['SELECT'])).toMatch(/`WITH` is not a query/);
  });

  it('finds the first keyword and counts statements past comments and quotes', () => {
    expect(leadingSqlKeyword('-- a\n-- b\n  with x')).toBe('WITH');
    expect(sqlStatementCount('SELECT 1;;; ')).toBe(1);
    expect(sqlStatementCount('SELECT "a;b" FROM t -- ; not a statement\n')).toBe(1);
    expect(sqlStatementCount('SELECT 1; SELECT 2')).toBe(2);
  });
});
