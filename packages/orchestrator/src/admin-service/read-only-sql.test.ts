import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReadOnlySql } from './read-only-sql.ts';

let folder: string;
let path: string;
let sql: ReadOnlySql;

beforeAll(() => {
  folder = mkdtempSync(join(tmpdir(), 'claw-read-only-sql-'));
  path = join(folder, 'bus.sqlite');
  const database = new Database(path);
  database.pragma('journal_mode = WAL');
  database.exec('CREATE TABLE agent (name TEXT PRIMARY KEY, role TEXT, big INTEGER, blob BLOB)');
  database
    .prepare('INSERT INTO agent VALUES (?, ?, ?, ?)')
    .run('LeadClaw', 'coordination', 2n ** 60n, Buffer.from([1, 2]));
  database.prepare('INSERT INTO agent VALUES (?, ?, ?, ?)').run('DevClaw', 'code', 7, null);
  database.close();
  sql = new ReadOnlySql(path);
});

afterAll(() => {
  sql.close();
  rmSync(folder, { recursive: true, force: true });
});

function refusal(statement: string): string {
  try {
    sql.query(statement);
  } catch (error) {
    return `${(error as { code: string }).code}: ${(error as Error).message}`;
  }
  return 'accepted';
}

describe('ReadOnlySql', () => {
  it('answers a SELECT with columns, rows, exact 64-bit integers and blobs as hex', () => {
    expect(sql.query('SELECT name, big, blob FROM agent ORDER BY name')).toEqual({
      columns: ['name', 'big', 'blob'],
      rows: [
        ['DevClaw', 7, null],
        ['LeadClaw', 2n ** 60n, '0102'],
      ],
      truncated: false,
    });
    expect(sql.query('-- a note\n/* and another */ WITH x AS (SELECT 1 AS one) SELECT one FROM x').rows).toEqual([[1]]);
  });

  it('cuts the answer at maxRows and says so', () => {
    expect(sql.query('SELECT name FROM agent ORDER BY name', 1)).toEqual({
      columns: ['name'],
      rows: [['DevClaw']],
      truncated: true,
    });
  });

  it.each([
    ['DELETE FROM agent', /`DELETE` is not a query/],
    ['SELECT 1; DELETE FROM agent', /exactly one statement/],
    ["ATTACH DATABASE ':memory:' AS other", /`ATTACH` is not a query/],
    ['PRAGMA query_only = OFF', /`PRAGMA` is not a query/],
    ['WITH doomed AS (SELECT 1) DELETE FROM agent', /would write/],
    ['/* SELECT */ DROP TABLE agent', /`DROP` is not a query/],
    ['/* never closed SELECT', /statement is empty/],
  ])('refuses %s', (statement, message) => {
    expect(refusal(statement)).toMatch(new RegExp(`^FORBIDDEN: .*${message.source}`));
    expect(sql.query('SELECT COUNT(*) AS n FROM agent').rows).toEqual([[2]]);
  });

  it('reports SQL errors as INVALID_PARAMS', () => {
    expect(refusal('SELECT nope FROM agent')).toMatch(/^INVALID_PARAMS: SQL error: no such column: nope/);
  });
});
