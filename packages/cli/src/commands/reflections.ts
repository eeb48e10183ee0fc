import { listReflections } from '@clawfleet/fleet-views';
import type { Command } from 'commander';
import type { CliRuntime } from '../cli-runtime.ts';
import { formatTime } from '../output/format.ts';
import { requireAgentName } from './agents-lookup.ts';
import { integerArgument, sinceArgument } from './arguments.ts';

export function registerReflections(program: Command, runtime: CliRuntime): void {
  program
    .command('reflections')
    .description("the agents' reflections on their work, newest last")
    .argument('[agent]', 'only this agent')
    .option(
      '--since <time>',
      'only since a date/time (2026-12-01T10:00) or a duration back (30m, 2h, 7d)',
      sinceArgument,
    )
    .option('--limit <n>', 'at most this many (the newest)', integerArgument(1, 100_000), 50)
    .option('--json', 'print the reflections as JSON')
    .action(
      async (
        agent: string | undefined,
        options: { since?: number; limit: number; json?: boolean },
        command: Command,
      ) => {
        const context = runtime.context(command);
        await context.withConnection(async (connection) => {
          if (agent !== undefined) await requireAgentName(connection, agent);
          const reflections = await listReflections(connection, {
            ...(agent === undefined ? {} : { agent }),
            ...(options.since === undefined ? {} : { since: options.since }),
            limit: options.limit,
          });
          if (options.json) return context.output.json(reflections);
          if (reflections.length === 0) return context.output.note('no reflections');
          const { output } = context;
          for (const row of reflections) {
            const task = row.task_id === null ? '' : ` on task #${row.task_id}`;
            output.line(
              `${output.color.dim(formatTime(row.created_at))}  ${output.color.bold(String(row.agent))}${task} ${output.color.dim(`(importance ${row.importance})`)}`,
            );
            output.line(`  ${String(row.text)}`);
          }
        });
      },
    );
}
