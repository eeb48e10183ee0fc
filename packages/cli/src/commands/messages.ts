import { listMessages } from '@clawfleet/fleet-views';
import type { Command } from 'commander';
import type { CliRuntime } from '../cli-runtime.ts';
import { formatTime } from '../output/format.ts';
import { requireAgentName } from './agents-lookup.ts';
import { integerArgument } from './arguments.ts';

export function registerMessages(program: Command, runtime: CliRuntime): void {
  program
    .command('messages')
    .description('messages between agents (direct, broadcast, hand-offs), newest last')
    .option('--agent <name>', 'only messages from, to or mentioning this agent')
    .option('--limit <n>', 'at most this many (the newest)', integerArgument(1, 100_000), 50)
    .option('--json', 'print the messages as JSON')
    .action(async (options: { agent?: string; limit: number; json?: boolean }, command: Command) => {
      const context = runtime.context(command);
      await context.withConnection(async (connection) => {
        if (options.agent !== undefined) await requireAgentName(connection, options.agent);
        const messages = await listMessages(connection, options);
        if (options.json) return context.output.json(messages);
        if (messages.length === 0) return context.output.note('no messages');
        const { output } = context;
        for (const row of messages) {
          const route = `${String(row.from_agent)} → ${row.to_agent === null ? 'everyone' : String(row.to_agent)}`;
          const task = row.task_id === null ? '' : output.color.dim(` (task #${row.task_id})`);
          output.line(
            `${output.color.dim(formatTime(row.created_at))}  ${output.color.bold(route)}${task} ${output.color.dim(`[${String(row.kind)}]`)}`,
          );
          output.line(`  ${String(row.text)}`);
        }
      });
    });
}
