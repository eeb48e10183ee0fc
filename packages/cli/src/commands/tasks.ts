import { listTasks, TASK_STATES, type TaskState, taskDetail } from '@clawfleet/fleet-views';
import { type Command, Option } from 'commander';
import type { CliRuntime } from '../cli-runtime.ts';
import { formatTime } from '../output/format.ts';
import { idArgument } from './arguments.ts';

export function registerTasks(program: Command, runtime: CliRuntime): void {
  program
    .command('tasks')
    .description('list tasks, newest first')
    .addOption(new Option('--state <state>', 'only tasks in this state').choices(TASK_STATES))
    .option('--json', 'print the tasks as JSON')
    .action(async (options: { state?: string; json?: boolean }, command: Command) => {
      const context = runtime.context(command);
      await context.withConnection(async (connection) => {
        const tasks = await listTasks(connection, options.state ? { state: options.state as TaskState } : {});
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
        const detail = await taskDetail(connection, id);
        const { task } = detail;
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
