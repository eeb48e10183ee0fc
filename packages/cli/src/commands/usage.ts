import type { Command } from 'commander';
import type { CliRuntime } from '../cli-runtime.ts';
import { formatDuration } from '../output/format.ts';
import { sinceArgument } from './arguments.ts';

interface UsageLine {
  agent: string;
  model: string;
  requests: number;
  promptTokens: number;
  completionTokens: number;
  durationMs: number;
}

export function registerUsage(program: Command, runtime: CliRuntime): void {
  program
    .command('usage')
    .description('inference used: requests, tokens and time per agent and model')
    .option('--since <time>', 'only since a date/time or a duration back (30m, 2h, 7d)', sinceArgument)
    .option('--json', 'print the usage as JSON')
    .action(async (options: { since?: number; json?: boolean }, command: Command) => {
      const context = runtime.context(command);
      await context.withConnection(async (connection) => {
        const totals = new Map<string, UsageLine>();
        for (const row of await connection.query('inference_usage')) {
          if (options.since !== undefined && Number(row.created_at) < options.since) continue;
          const key = `${String(row.agent)}\u0000${String(row.model)}`;
          const line = totals.get(key) ?? {
            agent: String(row.agent),
            model: String(row.model),
            requests: 0,
            promptTokens: 0,
            completionTokens: 0,
            durationMs: 0,
          };
          line.requests += 1;
          line.promptTokens += Number(row.prompt_tokens);
          line.completionTokens += Number(row.completion_tokens);
          line.durationMs += Number(row.duration_ms);
          totals.set(key, line);
        }
        const lines = [...totals.values()].sort(
          (a, b) => a.agent.localeCompare(b.agent) || a.model.localeCompare(b.model),
        );
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
