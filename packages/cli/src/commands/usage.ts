import { type UsageLine, usageTotals } from '@clawfleet/fleet-views';
import type { Command } from 'commander';
import type { CliRuntime } from '../cli-runtime.ts';
import { formatDuration } from '../output/format.ts';
import { sinceArgument } from './arguments.ts';

export function registerUsage(program: Command, runtime: CliRuntime): void {
  program
    .command('usage')
    .description('inference used: requests, tokens and time per agent and model')
    .option('--since <time>', 'only since a date/time or a duration back (30m, 2h, 7d)', sinceArgument)
    .option('--json', 'print the usage as JSON')
    .action(async (options: { since?: number; json?: boolean }, command: Command) => {
      const context = runtime.context(command);
      await context.withConnection(async (connection) => {
        const lines = await usageTotals(connection, options.since === undefined ? {} : { since: options.since });
        if (options.json) return context.output.json(lines);
        if (lines.length === 0) return context.output.note('no inference recorded yet');
        const sum = (pick: (line: UsageLine) => number): number => lines.reduce((total, line) => total + pick(line), 0);
        context.output.table(
          ['agent', 'model', 'requests', 'prompt tokens', 'completion tokens', 'time'],
          [
            ...lines.map((line) => [
              line.agent,
              line.model,
              line.requests,
              line.promptTokens,
              line.completionTokens,
              formatDuration(line.durationMs),
            ]),
            [
              context.output.color.bold('total'),
              '',
              sum((line) => line.requests),
              sum((line) => line.promptTokens),
              sum((line) => line.completionTokens),
              formatDuration(sum((line) => line.durationMs)),
            ],
          ],
        );
      });
    });
}
