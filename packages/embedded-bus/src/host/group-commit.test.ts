import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BusRowChange } from '@clawfleet/protocol';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EmbeddedDatabase, type ReducerCall, type ReducerCallResult } from './embedded-database.ts';
import { identityForName } from './identity.ts';

const ADMIN = 'orchestrator';
const task = (title: string, dependsOn: number[] = []) => ({
  title,
  description: '',
  priority: 3,
  depends_on: dependsOn,
  stimulus_id: null,
  reserved_for: null,
});

/** What a call did, in a form both ways of running it can be compared in. */
function outcome(result: ReducerCallResult): unknown {
  return result.ok ? { changes: result.changes } : { code: result.error.code, message: result.error.message };
}

function serially(database: EmbeddedDatabase, calls: readonly ReducerCall[]): ReducerCallResult[] {
  return calls.map((call) => {
    try {
      return { ok: true, changes: database.callReducer(call.callerName, call.reducer, call.args) };
    } catch (error) {
      return { ok: false, error: error as never };
    }
  });
}

describe('EmbeddedDatabase.callReducers (group commit)', () => {
  let directory: string;
  const open: EmbeddedDatabase[] = [];
  const clock = { now: 1_750_000_000_000 };
  const openDatabase = (
    name: string,
  ): { database: EmbeddedDatabase; published: BusRowChange[][]; daveSaw: string[] } => {
    const database = EmbeddedDatabase.open({ path: join(directory, name), now: () => clock.now });
    open.push(database);
    const published: BusRowChange[][] = [];
    // What a subscriber named Dave is shown, judged when each commit is published (as BusService does).
    const daveSaw: string[] = [];
    database.onCommit((changes) => {
      published.push(changes);
      for (const change of changes) {
        if (change.table === 'message' && database.isVisible('Dave', change.table, change.row)) {
          daveSaw.push(String(change.row.text));
        }
      }
    });
    for (const agent of ['DevClaw', 'UXClaw']) {
      database.callReducer(ADMIN, 'register_agent', { name: agent, identity: identityForName(agent), role: 'worker' });
    }
    published.length = 0;
    return { database, published, daveSaw };
  };

  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), 'claw-group-commit-'));
  });
  afterEach(() => {
    for (const database of open.splice(0)) database.close();
    rmSync(directory, { recursive: true, force: true });
  });

  it('gives each call the result, errors and published changes it gets when the calls run one by one', () => {
    const calls: ReducerCall[] = [
      { callerName: 'DevClaw', reducer: 'create_task', args: task('first') },
      { callerName: 'DevClaw', reducer: 'claim_task', args: { task_id: 1, lease_seconds: 60 } },
      { callerName: 'UXClaw', reducer: 'claim_task', args: { task_id: 1, lease_seconds: 60 } },
      { callerName: 'DevClaw', reducer: 'no_such_reducer', args: {} },
      { callerName: 'DevClaw', reducer: 'create_task', args: { ...task('bad'), priority: 'high' } },
      { callerName: 'stranger', reducer: 'create_task', args: task('not registered') },
      { callerName: 'UXClaw', reducer: 'create_task', args: task('second', [1]) },
      { callerName: 'DevClaw', reducer: 'complete_task', args: { task_id: 1, result: 'done' } },
      { callerName: 'UXClaw', reducer: 'send_message', args: { to_agent: 'DevClaw', text: 'hi' } },
      // Dave is registered between two broadcasts: he is shown the second only, as when run one by one.
      { callerName: 'UXClaw', reducer: 'send_message', args: { to_agent: null, text: 'before Dave' } },
      {
        callerName: ADMIN,
        reducer: 'register_agent',
        args: { name: 'Dave', identity: identityForName('Dave'), role: 'x' },
      },
      { callerName: 'UXClaw', reducer: 'send_message', args: { to_agent: null, text: 'after Dave' } },
    ];
    const serial = openDatabase('serial.sqlite');
    const grouped = openDatabase('grouped.sqlite');
    const expected = serially(serial.database, calls).map(outcome);
    const results = grouped.database.callReducers(calls).map(outcome);
    expect(results).toEqual(expected);
    expect(results.filter((result) => 'code' in (result as object)).length).toBe(4);
    expect(grouped.published).toEqual(serial.published);
    expect(serial.daveSaw).toEqual(['after Dave']);
    expect(grouped.daveSaw).toEqual(serial.daveSaw);
    for (const table of ['task', 'task_dependency', 'task_lease_schedule', 'message']) {
      expect(grouped.database.query(ADMIN, table)).toEqual(serial.database.query(ADMIN, table));
    }
  });

  it('rolls back only the savepoint of a call that fails after it wrote, and keeps the others', () => {
    const { database, published } = openDatabase('grouped.sqlite');
    // A trigger (from a second connection) fails `create_task` on its second write, after the task row.
    const other = new Database(join(directory, 'grouped.sqlite'));
    other.exec(`CREATE TRIGGER refuse BEFORE INSERT ON task_dependency
      WHEN (SELECT title FROM task WHERE id = NEW.task_id) = 'refused'
      BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END`);
    other.close();
    const results = database.callReducers([
      { callerName: 'DevClaw', reducer: 'create_task', args: task('first') },
      { callerName: 'DevClaw', reducer: 'create_task', args: task('refused', [1]) },
      { callerName: 'DevClaw', reducer: 'create_task', args: task('third', [1]) },
    ]);
    expect(results.map((result) => result.ok)).toEqual([true, false, true]);
    const failure = results[1] as { ok: false; error: { code: string; message: string } };
    expect(failure.error.code).toBe('REDUCER_REJECTED');
    expect(failure.error.message).toContain('refused by the test trigger');
    const tasks = database.query(ADMIN, 'task');
    expect(tasks.map((row) => [row.id, row.title])).toEqual([
      [1, 'first'],
      [2, 'third'],
    ]);
    expect(database.query(ADMIN, 'task_dependency').map((row) => [row.task_id, row.depends_on_task_id])).toEqual([
      [2, 1],
    ]);
    expect(
      published.map((changes) => changes.filter((change) => change.table === 'task').map((c) => c.row.title)),
    ).toEqual([['first'], ['third']]);
  });

  it('commits the group durably: a fresh connection sees every successful call', () => {
    const { database } = openDatabase('grouped.sqlite');
    database.callReducers(
      Array.from({ length: 20 }, (_, index) => ({
        callerName: 'DevClaw',
        reducer: 'create_task',
        args: task(index === 7 ? '' : `task ${index}`),
      })),
    );
    const reader = new Database(join(directory, 'grouped.sqlite'), { readonly: true });
    const count = reader.prepare('SELECT COUNT(*) AS count FROM task').get() as { count: number };
    reader.close();
    expect(count.count).toBe(19);
  });
});
