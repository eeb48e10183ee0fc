import { type BusRow, ClawError } from '@clawfleet/protocol';
import { type Command, Option } from 'commander';
import type { CliRuntime } from '../cli-runtime.ts';
import { formatTime } from '../output/format.ts';
import { idArgument } from './arguments.ts';

const TASK_STATES = ['blocked', 'queued', 'claimed', 'completed', 'failed', 'cancelled'] as const;

const byIdDescending = (a: BusRow, b: BusRow): number => Number(b.id) - Number(a.id);
const byIdAscending = (a: BusRow, b: BusRow): number => Number(a.id) - Number(b.id);

export function registerTasks(program: Command, runtime: CliRuntime): void {
  program
    .command('tasks')
    .description('list tasks, newest first')
    .addOption(new Option('--state <state>', 'only tasks in this state').choices(TASK_STATES))
    .option('--json', 'print the tasks as JSON')
    .action(async (options: { state?: string; json?: boolean }, command: Command) => {
      const context = runtime.context(command);
      await context.withConnection(async (connection) => {
        const tasks = (await connection.query('task', options.state ? { state: options.state } : {})).sort(
          byIdDescending,
        );
        if (options.json) return context.output.json(tasks);
        if (tasks.length === 0)
          return context.output.note(`no tasks${options.state ? ` in state ${options.state}` : ''}`);
        context.output.table(
          ['id', 'state', 'priority', 'owner', 'title', 'updated'],
          tasks.map((task) => [
            task.id,
            task.state,
            task.priority,
            task.owner ?? task.reserved_for ?? '-',
            task.title,
            formatTime(task.updated_at),
          ]),
        );
      });
    });

  program
    .command('task')
    .description('one task: its details, dependencies, actions (tool calls) and reflections')
    .argument('<id>', 'the task id', idArgument)
    .option('--json', 'print the task as JSON')
    .action(async (id: number, options: { json?: boolean }, command: Command) => {
      const context = runtime.context(command);
      await context.withConnection(async (connection) => {
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
        const detail = {
          task,
          dependsOn: dependencies.map((row) => row.depends_on_task_id),
          cycles: cycles.sort(byIdAscending),
          toolCalls: toolCalls.sort(byIdAscending),
          actions: actions.sort(byIdAscending),
          messages: messages.sort(byIdAscending),
          reflections: reflections.sort(byIdAscending),
        };
        if (options.json) return context.output.json(detail);
        const { output } = context;
        output.line(output.color.bold(`Task #${task.id}: ${String(task.title)}`));
        output.fields([
          ['state', task.state],
          ['priority', task.priority],
          ['owner', task.owner],
          ['reserved for', task.reserved_for],
          ['stimulus', task.stimulus_id],
          ['depends on', detail.dependsOn.length > 0 ? detail.dependsOn.join(', ') : '-'],
          ['attempts', task.attempts],
          ['created', formatTime(task.created_at)],
          ['updated', formatTime(task.updated_at)],
          ['result', task.result],
        ]);
        if (String(task.description).length > 0) {
          output.line();
          output.line(String(task.description));
        }
        output.line();
        output.line(output.color.bold('History'));
        const history = [
          ...detail.cycles.map((row) => ({
            at: row.started_at,
            text: `${row.agent} cycle #${row.id} (${row.trigger_key}): ${row.decision ?? row.phase}${row.reason ? ` - ${String(row.reason)}` : ''}${row.outcome === null ? '' : ` → ${row.outcome}`}`,
          })),
          ...detail.toolCalls.map((row) => ({
            at: row.started_at,
            text: `${row.agent} step ${row.step}: ${row.tool} ${String(row.args)} → ${row.state}${row.error_code ? ` (${row.error_code})` : ''}`,
          })),
          ...detail.actions.map((row) => ({
            at: row.created_at,
            text: `${row.agent} ${row.action} → ${row.outcome}${row.detail ? `: ${String(row.detail)}` : ''}`,
          })),
          ...detail.messages.map((row) => ({
            at: row.created_at,
            text: `${row.from_agent} → ${row.to_agent ?? 'everyone'} (${row.kind}): ${String(row.text)}`,
          })),
          ...detail.reflections.map((row) => ({
            at: row.created_at,
            text: `${row.agent} reflected: ${String(row.text)}`,
          })),
        ].sort((a, b) => Number(a.at) - Number(b.at));
        if (history.length === 0) output.line(output.color.dim('nothing recorded yet'));
        for (const entry of history) output.line(`${output.color.dim(formatTime(entry.at))}  ${entry.text}`);
      });
    });
}
