import { ATTENTION_STATES, type AttentionState, listAttention, resolveAttention } from '@clawfleet/fleet-views';
import { type Command, Option } from 'commander';
import type { CliRuntime } from '../cli-runtime.ts';
import { formatAge, formatTime } from '../output/format.ts';
import { idArgument } from './arguments.ts';

export function registerAttention(program: Command, runtime: CliRuntime): void {
  const attention = program
    .command('attention')
    .description('requests from agents that need a person (open ones by default)')
    .addOption(new Option('--state <state>', 'which requests').choices(ATTENTION_STATES).default('open'))
    .option('--json', 'print the requests as JSON')
    .action(async (options: { state: string; json?: boolean }, command: Command) => {
      const context = runtime.context(command);
      await context.withConnection(async (connection) => {
        const rows = await listAttention(connection, options.state as AttentionState);
        if (options.json) return context.output.json(rows);
        if (rows.length === 0)
          return context.output.note(`no ${options.state === 'all' ? '' : `${options.state} `}attention requests`);
        const { output } = context;
        for (const row of rows) {
          output.line(
            `${output.color.bold(`#${row.id}`)} ${String(row.agent)} ${output.color.dim(`priority ${row.priority}, ${row.state}, asked ${formatAge(row.created_at)}`)}`,
          );
          output.line(`  ${String(row.text)}`);
          if (row.state === 'open') {
            output.line(
              output.color.dim(`  if nobody answers by ${formatTime(row.expires_at)}: ${String(row.default_action)}`),
            );
          } else if (row.resolution !== null) {
            output.line(output.color.dim(`  resolution: ${String(row.resolution)}`));
          }
        }
      });
    });

  attention
    .command('resolve')
    .description('answer an open attention request')
    .argument('<id>', 'the request id', idArgument)
    .argument('[resolution...]', 'your answer (default: "resolved")')
    .action(async (id: number, words: string[], _options: unknown, command: Command) => {
      const context = runtime.context(command);
      const resolution = words.join(' ').trim() || 'resolved';
      await context.withConnection(async (connection) => {
        const request = await resolveAttention(connection, id, resolution);
        context.output.line(`attention request #${id} from ${String(request.agent)} resolved: ${resolution}`);
      });
    });
}
