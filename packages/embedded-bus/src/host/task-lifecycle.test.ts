import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeTables } from '@clawfleet/db-module';
import type { BusRowChange } from '@clawfleet/protocol';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { createFixture, type Fixture } from '../testing/test-fixture.ts';
import { EmbeddedDatabase } from './embedded-database.ts';
import { identityForName } from './identity.ts';

const fixtures: Fixture[] = [];
function fixture(): Fixture {
  const created = createFixture();
  fixtures.push(created);
  return created;
}
afterEach(() => {
  for (const created of fixtures.splice(0)) created.database.close();
});

function register(database: EmbeddedDatabase, name: string): void {
  database.callReducer('orchestrator', 'register_agent', { name, identity: identityForName(name), role: 'worker' });
}

function createTask(database: EmbeddedDatabase, title: string, dependsOn: number[] = []): number {
  const changes = database.callReducer('orchestrator', 'create_task', {
    title,
    description: '',
    priority: 5,
    depends_on: dependsOn,
  });
  return Number(changes.find((change) => change.table === 'task')!.row.id);
}

function task(database: EmbeddedDatabase, id: number) {
  return database.query('orchestrator', 'task', { id })[0]!;
}

describe('claims', () => {
  it('gives every task to exactly one of many agents claiming all tasks interleaved', () => {
    const { database } = fixture();
    const agents = ['A1', 'A2', 'A3', 'A4', 'A5'];
    for (const agent of agents) register(database, agent);
    const taskIds = Array.from({ length: 20 }, (_, index) => createTask(database, `t${index}`));
    const wins = new Map<number, string[]>();
    // Every agent tries every task, in an order that interleaves agents on the same task.
    for (const taskId of taskIds) {
      for (const agent of [...agents].sort(() => (taskId % 2 === 0 ? 1 : -1))) {
        try {
          database.callReducer(agent, 'claim_task', { task_id: taskId, lease_seconds: 60 });
          wins.set(taskId, [...(wins.get(taskId) ?? []), agent]);
        } catch (error) {
          expect((error as { code: string }).code).toBe('REDUCER_REJECTED');
        }
      }
    }
    for (const taskId of taskIds) {
      expect(wins.get(taskId)).toHaveLength(1);
      expect(task(database, taskId)).toMatchObject({ state: 'claimed', owner: wins.get(taskId)![0], attempts: 1 });
    }
  });

  it('lets only the reserved agent claim a handed-off task', () => {
    const { database, claimedTaskId } = fixture();
    database.callReducer('DevClaw', 'hand_off_task', { task_id: claimedTaskId, to_agent: 'UXClaw', note: 'yours' });
    expect(task(database, claimedTaskId)).toMatchObject({ state: 'queued', owner: null, reserved_for: 'UXClaw' });
    expect(() => database.callReducer('DevClaw', 'claim_task', { task_id: claimedTaskId, lease_seconds: 5 })).toThrow(
      'reserved for UXClaw',
    );
    database.callReducer('UXClaw', 'claim_task', { task_id: claimedTaskId, lease_seconds: 5 });
    expect(database.query('UXClaw', 'message').map((row) => [row.kind, row.text, row.task_id])).toEqual([
      ['handoff', 'yours', claimedTaskId],
    ]);
  });
});

describe('leases', () => {
  it('returns a task whose lease expired to the queue, and another agent can claim it', () => {
    const { database, clock, claimedTaskId } = fixture();
    clock.now += 59_000;
    expect(database.runDueSchedules()).toEqual([]);
    expect(task(database, claimedTaskId).state).toBe('claimed');
    clock.now += 1_000;
    database.runDueSchedules();
    expect(task(database, claimedTaskId)).toMatchObject({ state: 'queued', owner: null, lease_expires_at: null });
    expect(database.query('orchestrator', 'task_lease_schedule')).toEqual([]);
    database.callReducer('UXClaw', 'claim_task', { task_id: claimedTaskId, lease_seconds: 60 });
    expect(task(database, claimedTaskId)).toMatchObject({ owner: 'UXClaw', attempts: 2 });
  });

  it('keeps a task whose lease was extended by heartbeat until the new expiry', () => {
    const { database, clock, claimedTaskId } = fixture();
    clock.now += 50_000;
    database.callReducer('DevClaw', 'extend_task_lease', { task_id: claimedTaskId, lease_seconds: 60 });
    clock.now += 20_000; // past the first expiry, before the extended one
    database.runDueSchedules();
    expect(task(database, claimedTaskId)).toMatchObject({ state: 'claimed', owner: 'DevClaw' });
    clock.now += 40_000;
    database.runDueSchedules();
    expect(task(database, claimedTaskId)).toMatchObject({ state: 'queued', owner: null });
  });

  it('does not requeue a task completed before its lease ran out', () => {
    const { database, clock, claimedTaskId } = fixture();
    database.callReducer('DevClaw', 'complete_task', { task_id: claimedTaskId, result: 'ok' });
    clock.now += 120_000;
    database.runDueSchedules();
    expect(task(database, claimedTaskId)).toMatchObject({ state: 'completed', result: 'ok' });
  });

  it('runs scheduled reducers from its own timer and publishes their changes', async () => {
    const database = EmbeddedDatabase.open({ path: ':memory:' });
    try {
      register(database, 'DevClaw');
      const expired = new Promise<BusRowChange>((resolve) => {
        database.onCommit((changes) => {
          const change = changes.find(
            (candidate) => candidate.table === 'attention_request' && candidate.row.state === 'expired',
          );
          if (change !== undefined) resolve(change);
        });
      });
      database.callReducer('DevClaw', 'request_attention', {
        text: 'deploy?',
        priority: 3,
        default_action: 'skip the deploy',
        expires_in_seconds: 1,
      });
      const change = await expired;
      expect(change.row).toMatchObject({ state: 'expired', resolution: 'skip the deploy' });
    } finally {
      database.close();
    }
  });
});

describe('dependencies', () => {
  it('keeps a chain blocked and unblocks each task when the one before it completes', () => {
    const { database } = fixture();
    const first = createTask(database, 'first');
    const second = createTask(database, 'second', [first]);
    const third = createTask(database, 'third', [second]);
    const joined = createTask(database, 'joined', [first, second]);
    const states = () => [first, second, third, joined].map((id) => task(database, id).state);
    expect(states()).toEqual(['queued', 'blocked', 'blocked', 'blocked']);
    expect(() => database.callReducer('DevClaw', 'claim_task', { task_id: third, lease_seconds: 5 })).toThrow(
      `Task ${third} is blocked by unfinished dependencies ${second}`,
    );
    const run = (id: number) => {
      database.callReducer('DevClaw', 'claim_task', { task_id: id, lease_seconds: 5 });
      database.callReducer('DevClaw', 'complete_task', { task_id: id, result: 'done' });
    };
    run(first);
    expect(states()).toEqual(['completed', 'queued', 'blocked', 'blocked']);
    run(second);
    expect(states()).toEqual(['completed', 'completed', 'queued', 'queued']);
    run(third);
    expect(states()).toEqual(['completed', 'completed', 'completed', 'queued']);
  });

  it('creates a task with only completed dependencies as queued, and refuses dependencies that can never complete', () => {
    const { database, claimedTaskId } = fixture();
    database.callReducer('DevClaw', 'complete_task', { task_id: claimedTaskId, result: 'done' });
    expect(task(database, createTask(database, 'after', [claimedTaskId])).state).toBe('queued');
    const doomed = createTask(database, 'doomed');
    database.callReducer('orchestrator', 'cancel_task', { task_id: doomed, reason: 'dropped' });
    expect(() => createTask(database, 'never', [doomed])).toThrow(
      `Dependency task ${doomed} is cancelled and can never complete`,
    );
  });
});

describe('presence and persistence', () => {
  it('marks an agent online while it has connections', () => {
    const { database } = fixture();
    const online = () => database.query('orchestrator', 'agent', { name: 'DevClaw' })[0]!.online;
    database.clientConnected('DevClaw');
    database.clientConnected('DevClaw');
    database.clientDisconnected('DevClaw');
    expect(online()).toBe(true);
    database.clientDisconnected('DevClaw');
    expect(online()).toBe(false);
    database.clientConnected('stranger'); // unregistered identities connect without effect
  });

  it('keeps rows across reopening a file, runs init once, and resets presence', () => {
    const directory = mkdtempSync(join(tmpdir(), 'clawfleet-embedded-'));
    const path = join(directory, 'data', 'bus.sqlite');
    try {
      const first = EmbeddedDatabase.open({ path });
      register(first, 'DevClaw');
      first.clientConnected('DevClaw');
      const taskId = createTask(first, 'persisted');
      first.close();
      const second = EmbeddedDatabase.open({ path });
      expect(second.query('orchestrator', 'admin')).toHaveLength(1);
      expect(second.query('orchestrator', 'agent')[0]).toMatchObject({
        name: 'DevClaw',
        online: false,
        connections: 0,
      });
      expect(task(second, taskId).title).toBe('persisted');
      expect(createTask(second, 'next')).toBe(taskId + 1);
      second.close();
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('creates in SQLite the primary keys and unique and btree indexes the module declares', () => {
    const directory = mkdtempSync(join(tmpdir(), 'clawfleet-embedded-'));
    const path = join(directory, 'bus.sqlite');
    try {
      EmbeddedDatabase.open({ path }).close();
      const sqlite = new Database(path, { readonly: true });
      for (const table of describeTables()) {
        const columns = sqlite.prepare(`PRAGMA table_info("${table.name}")`).all() as { name: string; pk: number }[];
        expect(columns.map((column) => column.name)).toEqual(table.columns.map((column) => column.name));
        expect(columns.filter((column) => column.pk > 0).map((column) => column.name)).toEqual(table.primaryKey);
        const indexes = (
          sqlite.prepare(`PRAGMA index_list("${table.name}")`).all() as {
            name: string;
            unique: number;
            origin: string;
          }[]
        )
          .filter((index) => index.origin === 'c')
          .map((index) => {
            const indexColumns = sqlite.prepare(`PRAGMA index_info("${index.name}")`).all() as { name: string }[];
            return { columns: indexColumns.map((column) => column.name), unique: index.unique === 1 };
          });
        const expected = table.indexes
          .filter((index) => index.columns.join() !== table.primaryKey.join())
          .map((index) => ({ columns: index.columns, unique: index.unique }));
        expect(indexes.sort((a, b) => a.columns.join().localeCompare(b.columns.join()))).toEqual(
          expected.sort((a, b) => a.columns.join().localeCompare(b.columns.join())),
        );
      }
      sqlite.close();
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
