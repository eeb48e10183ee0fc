import { type BusRow, ClawError } from '@clawfleet/protocol';
import type { FleetConnection } from './fleet-connection.ts';

export const TASK_STATES = ['blocked', 'queued', 'claimed', 'completed', 'failed', 'cancelled'] as const;
export type TaskState = (typeof TASK_STATES)[number];

const byIdDescending = (a: BusRow, b: BusRow): number => Number(b.id) - Number(a.id);
const byIdAscending = (a: BusRow, b: BusRow): number => Number(a.id) - Number(b.id);

/** Tasks, newest first, optionally in one state. */
export async function listTasks(connection: FleetConnection, options: { state?: TaskState } = {}): Promise<BusRow[]> {
  return (await connection.query('task', options.state ? { state: options.state } : {})).sort(byIdDescending);
}

/** One task with everything recorded about it, each list oldest first. */
export interface TaskDetail {
  task: BusRow;
  dependsOn: unknown[];
  cycles: BusRow[];
  toolCalls: BusRow[];
  actions: BusRow[];
  messages: BusRow[];
  reflections: BusRow[];
}

/** One task: its details, dependencies, cycles, tool calls, actions, messages and reflections. */
export async function taskDetail(connection: FleetConnection, id: number): Promise<TaskDetail> {
  const [task] = await connection.query('task', { id });
  if (!task) throw new ClawError('NOT_FOUND', `Task ${id} does not exist (\`claw tasks\` lists them)`);
  // Optional columns are filtered here, not in the query: SpacetimeDB refuses `=` on option types.
  const ofTask = (rows: BusRow[]): BusRow[] => rows.filter((row) => Number(row.task_id) === id);
  const [dependencies, actions, reflections, messages, cycles] = await Promise.all([
    connection.query('task_dependency', { task_id: id }),
    connection.query('action_log').then(ofTask),
    connection.query('reflection').then(ofTask),
    connection.query('message').then(ofTask),
    connection.query('cycle').then(ofTask),
  ]);
  const toolCalls = (
    await Promise.all(cycles.map((cycle) => connection.query('tool_call', { cycle_id: Number(cycle.id) })))
  ).flat();
  return {
    task,
    dependsOn: dependencies.map((row) => row.depends_on_task_id),
    cycles: cycles.sort(byIdAscending),
    toolCalls: toolCalls.sort(byIdAscending),
    actions: actions.sort(byIdAscending),
    messages: messages.sort(byIdAscending),
    reflections: reflections.sort(byIdAscending),
  };
}
