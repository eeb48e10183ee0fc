/**
 * One test per rule of the subscription SQL the embedded host accepts (docs/bus.md, "Subscription
 * SQL"). The rules are SpacetimeDB's type checker's (crates/expr `type_expr`, `op_supports_type`,
 * `parse`), so a query the embedded bus accepts runs unchanged on SpacetimeDB and selects the same rows.
 */
import { type ClawError, isClawError, parseBusQuery, silentLogger } from '@clawfleet/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFixture, type Fixture, OWNER } from '../testing/test-fixture.ts';
import { SubscriptionRegistry } from './subscription-registry.ts';

let fixture: Fixture;
let registry: SubscriptionRegistry;

beforeEach(() => {
  fixture = createFixture();
  registry = new SubscriptionRegistry(fixture.database, silentLogger);
});

afterEach(() => {
  fixture.database.close();
});

/** The titles of the tasks a query selects for DevClaw, as the embedded host would send them. */
function titles(query: string): string[] {
  const [table] = registry.snapshot(OWNER, [parseBusQuery(query)]);
  return (table?.rows ?? []).map((row) => String(row.title)).sort();
}

function refusal(query: string): ClawError {
  try {
    registry.snapshot(OWNER, [parseBusQuery(query)]);
  } catch (error) {
    if (isClawError(error, 'SUBSCRIPTION_INVALID')) return error;
    throw error;
  }
  throw new Error(`Expected ${query} to be refused`);
}

describe('subscription SQL on the embedded host', () => {
  it('rule 1: only `SELECT * FROM table [WHERE column = literal [AND ...]]`, keywords in any case', () => {
    expect(titles("select * from task where state = 'queued';")).toEqual(['queued']);
    for (const query of [
      'SELECT title FROM task',
      "SELECT * FROM task WHERE state = 'queued' OR state = 'claimed'",
      'SELECT * FROM task WHERE priority > 1',
      'SELECT * FROM task LIMIT 1',
    ]) {
      expect(() => parseBusQuery(query), query).toThrow(/SELECT \* FROM table/);
    }
  });

  it('rule 2: a named column must exist in the table', () => {
    const error = refusal("SELECT * FROM task WHERE status = 'queued'");
    expect(error.message).toContain('Table `task` has no column `status`');
    expect(error.message).toContain('state');
  });

  it.each([
    ['task', 'owner', `'${OWNER}'`],
    ['task', 'reserved_for', "'DevClaw'"],
    ['task', 'stimulus_id', '1'],
    ['stimulus', 'target_agent', "'DevClaw'"],
    ['visible_message', 'to_agent', "'DevClaw'"],
    ['visible_message', 'task_id', '1'],
    ['action_log', 'task_id', '1'],
  ])(
    'rule 3: an optional column (%s.%s) cannot be compared; the message names the column and what to do',
    (table, column, literal) => {
      const error = refusal(`SELECT * FROM ${table} WHERE ${column} = ${literal}`);
      expect(error.message).toContain(`\`${table}.${column}\` is optional (Option<`);
      expect(error.message).toContain(`check \`row.${column}\` in your callbacks`);
      expect(error.details).toMatchObject({ table, column });
    },
  );

  it('rule 4: array columns cannot be compared', () => {
    expect(refusal("SELECT * FROM visible_message WHERE mentions = 'DevClaw'").message).toContain(
      'is Array<String>, which SpacetimeDB cannot compare',
    );
  });

  it('rule 5: a Bool column takes only true or false', () => {
    const [agents] = registry.snapshot(OWNER, [parseBusQuery('SELECT * FROM agent WHERE online = false')]);
    expect(agents?.rows.map((row) => row.name).sort()).toEqual(['DevClaw', 'UXClaw']);
    expect(refusal("SELECT * FROM agent WHERE online = 'false'").message).toContain('expected `true` or `false`');
    expect(refusal('SELECT * FROM agent WHERE online = 0').message).toContain('expected `true` or `false`');
    expect(refusal('SELECT * FROM task WHERE title = true').message).toContain('is String');
  });

  it('rule 6: an integer column takes an integer in its range, quoted or not, and 5.0 as 5', () => {
    expect(titles('SELECT * FROM task WHERE priority = 5')).toEqual(['claimed', 'queued']);
    expect(titles("SELECT * FROM task WHERE priority = '5'")).toEqual(['claimed', 'queued']);
    expect(titles('SELECT * FROM task WHERE priority = 5.0')).toEqual(['claimed', 'queued']);
    expect(titles(`SELECT * FROM task WHERE id = ${fixture.queuedTaskId}`)).toEqual(['queued']);
    expect(refusal('SELECT * FROM task WHERE priority = 5.5').message).toContain('expected an integer 0-255');
    expect(refusal('SELECT * FROM task WHERE priority = 256').message).toContain('expected an integer 0-255');
    expect(refusal('SELECT * FROM task WHERE priority = -1').message).toContain('expected an integer 0-255');
    expect(refusal("SELECT * FROM task WHERE priority = 'high'").message).toContain('got `high`');
  });

  it('rule 7: a String column takes any literal but true/false, compared as written', () => {
    expect(titles("SELECT * FROM task WHERE title = 'queued'")).toEqual(['queued']);
    fixture.database.callReducer(OWNER, 'create_task', { title: '42', description: '', priority: 1, depends_on: [] });
    expect(titles('SELECT * FROM task WHERE title = 42')).toEqual(['42']);
    expect(titles("SELECT * FROM task WHERE title = 'Queued'")).toEqual([]);
  });

  it('rule 8: an Identity column takes 64 hex digits, as 0x... or quoted, in any case', () => {
    const identity = String(fixture.database.query(OWNER, 'task')[0]?.created_by);
    expect(titles(`SELECT * FROM task WHERE created_by = 0x${identity.toUpperCase()}`)).toEqual(['claimed', 'queued']);
    expect(titles(`SELECT * FROM task WHERE created_by = '${identity}'`)).toEqual(['claimed', 'queued']);
    expect(refusal("SELECT * FROM task WHERE created_by = 'DevClaw'").message).toContain('expected 64 hex digits');
    expect(refusal('SELECT * FROM task WHERE created_by = 0xabcd').message).toContain('expected 64 hex digits');
  });

  it('rule 9: a Timestamp column takes RFC 3339 text, not microseconds', () => {
    const created = fixture.database.query(OWNER, 'task')[0]?.created_at as number;
    const text = new Date(created / 1000).toISOString();
    expect(titles(`SELECT * FROM task WHERE created_at = '${text}'`)).toEqual(['claimed', 'queued']);
    expect(titles(`SELECT * FROM task WHERE created_at = '${text.replace('Z', '+02:00')}'`)).toEqual([]);
    expect(refusal(`SELECT * FROM task WHERE created_at = ${created}`).message).toContain('expected an RFC 3339');
  });

  it('rule 10: several conditions all hold; several queries in one subscription add up', () => {
    expect(titles("SELECT * FROM task WHERE state = 'queued' AND priority = 5")).toEqual(['queued']);
    expect(titles("SELECT * FROM task WHERE state = 'queued' AND priority = 4")).toEqual([]);
    const [tasks] = registry.snapshot(OWNER, [
      parseBusQuery("SELECT * FROM task WHERE state = 'queued'"),
      parseBusQuery("SELECT * FROM task WHERE state = 'claimed'"),
    ]);
    expect(tasks?.rows.map((row) => row.title).sort()).toEqual(['claimed', 'queued']);
  });

  it('applies the same rules to a live subscription (add) as to a snapshot', () => {
    const connection = { id: 'c1', identity: OWNER, push: () => {} };
    expect(() => registry.add(connection, 1, [parseBusQuery("SELECT * FROM task WHERE owner = 'DevClaw'")])).toThrow(
      /is optional/,
    );
    expect(registry.size).toBe(0);
  });
});
