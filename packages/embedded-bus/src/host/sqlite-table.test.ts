import { describeTables, identityFromHex, timestampFromMicros } from '@clawfleet/db-module';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { identityForName } from './identity.ts';
import { type RuntimeChange, SEQUENCE_TABLE, SqliteTable, TableConstraintError } from './sqlite-table.ts';

// The table writes without reading rows back and leaves most unique checks to SQLite; these tests pin
// that what reducers and subscribers see is still exactly what SQLite holds, and that errors are unchanged.
describe('SqliteTable', () => {
  let database: Database.Database;
  let changes: RuntimeChange[];
  const tableFor = (name: string): SqliteTable => {
    const description = describeTables().find((candidate) => candidate.name === name)!;
    const table = new SqliteTable(database, description, (change) => changes.push(change));
    table.createSchema();
    return table;
  };
  const agentRow = (name: string, identityName = name) => ({
    name,
    identity: identityFromHex(identityForName(identityName)),
    role: 'worker',
    online: false,
    connections: 0,
    status: 'idle',
    last_heartbeat_at: timestampFromMicros(1n),
    registered_at: timestampFromMicros(1n),
  });

  beforeEach(() => {
    database = new Database(':memory:');
    database.exec(
      `CREATE TABLE ${SEQUENCE_TABLE} (table_name TEXT NOT NULL, column_name TEXT NOT NULL, next_value INTEGER NOT NULL, PRIMARY KEY (table_name, column_name)) STRICT`,
    );
    changes = [];
  });
  afterEach(() => database.close());

  it('returns and records the inserted and updated rows exactly as a read gives them', () => {
    const table = tableFor('message');
    const inserted = table.insert({
      id: 0n,
      kind: 'direct',
      from_agent: 'DevClaw',
      to_agent: 'UXClaw',
      text: 'hello 😀',
      mentions: ['UXClaw'],
      task_id: undefined,
      created_at: timestampFromMicros(5n),
    });
    expect(inserted.id).toBe(1n);
    expect(inserted).toEqual(table.select('id', 1n)[0]);
    const updated = table.update({ ...inserted, text: 'changed', task_id: 9 });
    expect(updated).toEqual(table.select('id', 1n)[0]);
    expect(updated.task_id).toBe(9n);
    expect(changes.map((change) => change.op)).toEqual(['insert', 'update']);
    expect(changes[1]?.oldRow).toEqual(inserted);
  });

  it('hands out sequence values 1, 2, 3 per table', () => {
    const table = tableFor('task_dependency');
    const ids = [1, 2, 3].map(() => table.insert({ id: 0n, task_id: 1n, depends_on_task_id: 2n }).id);
    expect(ids).toEqual([1n, 2n, 3n]);
  });

  it('reads back text SQLite cannot store as given (a lone surrogate)', () => {
    const table = tableFor('message');
    const inserted = table.insert({
      id: 0n,
      kind: 'broadcast',
      from_agent: 'DevClaw',
      to_agent: undefined,
      text: 'broken \uD800 text',
      mentions: [],
      task_id: undefined,
      created_at: timestampFromMicros(5n),
    });
    expect(inserted).toEqual(table.select('id', inserted.id)[0]);
    expect(inserted.text).not.toBe('broken \uD800 text');
  });

  it('reports a duplicate unique value as the index it breaks, on insert and on update, and writes nothing', () => {
    const table = tableFor('agent');
    table.insert(agentRow('DevClaw'));
    table.insert(agentRow('UXClaw'));
    expect(() => table.insert(agentRow('DevClaw', 'Other'))).toThrow(
      new TableConstraintError('Unique constraint violated: agent.name already has this value'),
    );
    expect(() => table.insert(agentRow('Third', 'DevClaw'))).toThrow(
      new TableConstraintError('Unique constraint violated: agent.identity already has this value'),
    );
    expect(() => table.update(agentRow('UXClaw', 'DevClaw'))).toThrow(
      new TableConstraintError('Unique constraint violated: agent.identity already has this value'),
    );
    expect(() => table.update(agentRow('Nobody'))).toThrow(
      new TableConstraintError('Cannot update agent: no row has name Nobody'),
    );
    expect(table.count()).toBe(2n);
    expect(table.select('name', 'UXClaw')[0]?.identity).toEqual(identityFromHex(identityForName('UXClaw')));
    expect(changes.map((change) => change.op)).toEqual(['insert', 'insert']);
  });

  it('returns what SQLite stored when it converted a value on the way in', () => {
    const table = tableFor('agent');
    const inserted = table.insert({ ...agentRow('DevClaw'), role: 0.1 + 0.2 });
    expect(inserted).toEqual(table.select('name', 'DevClaw')[0]);
    expect(inserted.role).toBe(String(table.select('name', 'DevClaw')[0]?.role));
  });

  it('lets other constraint failures through unchanged', () => {
    const table = tableFor('agent');
    expect(() => table.insert({ ...agentRow('DevClaw'), status: null })).toThrow(
      /NOT NULL constraint failed: agent.status/,
    );
    expect(table.count()).toBe(0n);
  });
});
