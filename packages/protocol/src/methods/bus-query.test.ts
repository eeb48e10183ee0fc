import { describe, expect, it } from 'vitest';
import { isClawError } from '../errors.ts';
import { busColumnTypeName, busQueryMatches, parseBusQuery, typeBusQuery } from './bus-query.ts';

describe('parseBusQuery', () => {
  it('reads a whole-table query, keywords in any case, with an optional semicolon', () => {
    expect(parseBusQuery('select * from task;')).toEqual({ text: 'select * from task;', table: 'task', where: [] });
  });

  it('reads a conjunction of equalities with every literal kind', () => {
    const query = parseBusQuery(
      "SELECT * FROM task WHERE state = 'it''s' AND priority = 3 AND big = 9007199254740993 AND ok = TRUE AND owner = 0xABcd AND score = -1.5",
    );
    expect(query.where).toEqual([
      { column: 'state', literal: { kind: 'string', value: "it's" }, text: "it's" },
      { column: 'priority', literal: { kind: 'integer', value: 3n }, text: '3' },
      { column: 'big', literal: { kind: 'integer', value: 9007199254740993n }, text: '9007199254740993' },
      { column: 'ok', literal: { kind: 'boolean', value: true }, text: 'true' },
      { column: 'owner', literal: { kind: 'hex', value: 'abcd' }, text: 'ABcd' },
      { column: 'score', literal: { kind: 'decimal', value: -1.5 }, text: '-1.5' },
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

describe('typeBusQuery', () => {
  const optionOf = (tag: string) => ({
    tag: 'Sum',
    value: {
      variants: [
        { name: 'some', algebraicType: { tag } },
        { name: 'none', algebraicType: { tag: 'Product', value: { elements: [] } } },
      ],
    },
  });
  const columns = [
    { name: 'score', type: { tag: 'F64' } },
    { name: 'count', type: { tag: 'I8' } },
    { name: 'note', type: optionOf('String') },
    { name: 'tags', type: { tag: 'Array', value: { tag: 'String' } } },
  ];
  const typed = (query: string) => typeBusQuery(parseBusQuery(query), columns);

  it('reads a Float column literal as a number, integer or decimal, and refuses text', () => {
    const query = typed('SELECT * FROM t WHERE score = 2');
    expect(busQueryMatches(query, 't', { score: 2.0 })).toBe(true);
    expect(busQueryMatches(typed('SELECT * FROM t WHERE score = -0.5'), 't', { score: -0.5 })).toBe(true);
    expect(() => typed("SELECT * FROM t WHERE score = 'x'")).toThrow(/expected a number/);
  });

  it('checks signed ranges', () => {
    expect(busQueryMatches(typed('SELECT * FROM t WHERE count = -128'), 't', { count: -128 })).toBe(true);
    expect(() => typed('SELECT * FROM t WHERE count = 128')).toThrow(/an integer -128-127/);
  });

  it('names option and array types in its refusals', () => {
    expect(() => typed("SELECT * FROM t WHERE note = 'x'")).toThrow(/`t.note` is optional \(Option<String>\)/);
    expect(() => typed("SELECT * FROM t WHERE tags = 'x'")).toThrow(/Array<String>/);
    expect(busColumnTypeName(optionOf('U64'))).toBe('Option<U64>');
  });
});
