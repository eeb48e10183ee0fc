import { describe, expect, it } from 'vitest';
import { isClawError } from '../errors.ts';
import { busQueryMatches, parseBusQuery } from './bus-query.ts';

describe('parseBusQuery', () => {
  it('reads a whole-table query, keywords in any case, with an optional semicolon', () => {
    expect(parseBusQuery('select * from task;')).toEqual({ text: 'select * from task;', table: 'task', where: [] });
  });

  it('reads a conjunction of equalities with every literal kind', () => {
    const query = parseBusQuery(
      "SELECT * FROM task WHERE state = 'it''s' AND priority = 3 AND big = 9007199254740993 AND ok = TRUE AND owner = 0xABcd AND score = -1.5",
    );
    expect(query.where).toEqual([
      { column: 'state', literal: { kind: 'string', value: "it's" } },
      { column: 'priority', literal: { kind: 'integer', value: 3n } },
      { column: 'big', literal: { kind: 'integer', value: 9007199254740993n } },
      { column: 'ok', literal: { kind: 'boolean', value: true } },
      { column: 'owner', literal: { kind: 'hex', value: 'abcd' } },
      { column: 'score', literal: { kind: 'decimal', value: -1.5 } },
    ]);
  });

  it.each([
    ['SELECT id FROM task', 'only `SELECT *`'],
    ['SELECT * FROM', 'expected a table name'],
    ['SELECT * FROM task WHERE priority > 3', 'only `=`'],
    ['SELECT * FROM task WHERE a = 1 OR b = 2', 'unexpected text'],
    ["SELECT * FROM task WHERE a = 'open", 'unterminated string'],
    ['SELECT * FROM a JOIN b', 'unexpected text'],
    ['DELETE FROM task', 'expected `SELECT`'],
    ['SELECT * FROM task WHERE a = 12abc', 'malformed number'],
    ['SELECT * FROM task; DROP TABLE task', 'unexpected text'],
  ])('refuses %s with SUBSCRIPTION_INVALID', (text, reason) => {
    let caught: unknown;
    try {
      parseBusQuery(text);
    } catch (error) {
      caught = error;
    }
    expect(isClawError(caught, 'SUBSCRIPTION_INVALID')).toBe(true);
    expect((caught as Error).message).toContain(reason);
  });

  it('matches rows by table and every condition, numbers against bigints and hex case-insensitively', () => {
    const query = parseBusQuery('SELECT * FROM task WHERE owner = 0xAB AND priority = 3');
    expect(busQueryMatches(query, 'task', { owner: 'ab', priority: 3n })).toBe(true);
    expect(busQueryMatches(query, 'task', { owner: 'AB', priority: 3 })).toBe(true);
    expect(busQueryMatches(query, 'task', { owner: 'ab', priority: 4 })).toBe(false);
    expect(busQueryMatches(query, 'message', { owner: 'ab', priority: 3 })).toBe(false);
  });
});
