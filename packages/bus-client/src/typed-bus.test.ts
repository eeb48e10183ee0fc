/**
 * The typed bus: reducer names, arguments, tables and row fields come from db-module's definitions, so
 * mistakes are compile errors. The `@ts-expect-error` lines below are checked by `tsc -b` (part of
 * `npm test`): if one of them stopped being an error, the build fails with "Unused directive".
 */
import { busReducerNames } from '@clawfleet/db-module';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { BusClient, BusReducerName, BusRowOf, ReducerArgs } from './bus-client.ts';
import { createBusReducers } from './bus-reducers.ts';
import type { EmbeddedBusClient } from './embedded/embedded-bus-client.ts';
import type { SpacetimeDbBusClient } from './spacetimedb/spacetimedb-bus-client.ts';

/** Never called: it only has to compile (or fail to, where marked). */
export async function typeChecks(bus: BusClient): Promise<void> {
  await bus.reducers.claimTask({ task_id: 1, lease_seconds: 60 });
  await bus.reducers.claimTask({ task_id: 2n ** 60n, lease_seconds: 60 });
  await bus.reducers.createTask({ title: 't', description: '', priority: 1, depends_on: [] });
  await bus.callReducer('complete_task', { task_id: 1, result: 'done' });

  // @ts-expect-error: no reducer is called claimTasks
  await bus.reducers.claimTasks({ task_id: 1, lease_seconds: 60 });
  // @ts-expect-error: lifecycle and scheduled reducers are not callable by clients
  await bus.reducers.expireTaskLease({ task_id: 1 });
  // @ts-expect-error: `task_id` must be an integer, not a string
  await bus.reducers.claimTask({ task_id: '1', lease_seconds: 60 });
  // @ts-expect-error: `lease_seconds` is missing
  await bus.reducers.claimTask({ task_id: 1 });
  // @ts-expect-error: `taskId` is not an argument (arguments use the schema's column names)
  await bus.reducers.claimTask({ taskId: 1, lease_seconds: 60 });
  // @ts-expect-error: no reducer has this name
  await bus.callReducer('claim_tasks', { task_id: 1, lease_seconds: 60 });
  // @ts-expect-error: the arguments belong to another reducer
  await bus.callReducer('complete_task', { task_id: 1, lease_seconds: 60 });

  const tasks = bus.cache.task;
  expectTypeOf(tasks).toEqualTypeOf<readonly BusRowOf<'task'>[]>();
  expectTypeOf(tasks[0]!.title).toEqualTypeOf<string>();
  expectTypeOf(tasks[0]!.owner).toEqualTypeOf<string | null>();
  // @ts-expect-error: tasks have no `name` column
  tasks[0]!.name;
  // @ts-expect-error: rows are read-only; change them through reducers
  tasks[0]!.title = 'x';
  // @ts-expect-error: no such table (it is `memory_entry`)
  bus.rows('memory_entries');
  // @ts-expect-error: no such table
  bus.cache.tasks;

  bus.subscribe("SELECT * FROM task WHERE state = 'queued'", {
    onInsert: (row) => expectTypeOf(row).toEqualTypeOf<BusRowOf<'task'>>(),
    onUpdate: (oldRow, newRow) => expectTypeOf([oldRow.state, newRow.state]).toEqualTypeOf<string[]>(),
  });
  bus.subscribe(['SELECT * FROM task', 'SELECT * FROM agent'], {
    onInsert: (row, table) => {
      if (table === 'agent') expectTypeOf(row).toEqualTypeOf<BusRowOf<'agent'>>();
      else expectTypeOf(row).toEqualTypeOf<BusRowOf<'task'>>();
    },
  });
  const owner = 'OpsClaw';
  bus.subscribe(`SELECT * FROM task WHERE owner = '${owner}'`, { onDelete: (row) => row.owner });
  // @ts-expect-error: no such table
  bus.subscribe('SELECT * FROM tasks');
  // @ts-expect-error: a task row has no `name`
  bus.subscribe('SELECT * FROM task', { onInsert: (row) => row.name });
}

/** Both implementations, used as themselves (not through the interface), are typed the same way. */
export async function implementationTypeChecks(embedded: EmbeddedBusClient, spacetime: SpacetimeDbBusClient) {
  for (const bus of [embedded, spacetime]) {
    await bus.reducers.releaseTask({ task_id: 1 });
    // @ts-expect-error: no reducer is called releaseTasks
    await bus.reducers.releaseTasks({ task_id: 1 });
    // @ts-expect-error: `task_id` must be an integer
    await bus.callReducer('release_task', { task_id: 'one' });
    // @ts-expect-error: tasks have no `name` column
    bus.rows('task')[0]?.name;
  }
}

describe('bus.reducers', () => {
  it('has one method per client reducer, calling it by its schema name with the same arguments', async () => {
    const calls: [BusReducerName, unknown][] = [];
    const reducers = createBusReducers(async (reducer, args) => {
      calls.push([reducer, args]);
    });
    const args: ReducerArgs<'claim_task'> = { task_id: 7, lease_seconds: 30 };
    await reducers.claimTask(args);
    await reducers.recordInference({
      agent: 'OpsClaw',
      host: 'local',
      model: 'tiny',
      priority_class: 'act',
      prompt_tokens: 1,
      completion_tokens: 2,
      duration_ms: 3,
      request_id: 'r1',
      method: 'generate',
      outcome: 'ok',
      cached_prompt_tokens: 0,
      queued_ms: 0,
    });
    expect(calls).toEqual([
      ['claim_task', args],
      ['record_inference', expect.objectContaining({ agent: 'OpsClaw' })],
    ]);
    expect(Object.keys(reducers)).toHaveLength(busReducerNames.length);
    expect(Object.keys(reducers)).not.toContain('expireTaskLease');
    expect(Object.isFrozen(reducers)).toBe(true);
  });
});
