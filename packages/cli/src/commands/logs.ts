import { createReadStream, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClawError } from '@clawfleet/protocol';
import type { Command } from 'commander';
import type { CliRuntime } from '../cli-runtime.ts';
import type { CommandContext } from '../command-context.ts';
import { OrchestratorConnection } from '../connection/orchestrator-connection.ts';
import { createLogFormatter, LineSplitter, lineIsFromAgent, parseLogLine } from '../process/log-format.ts';
import { requireAgentName } from './agents-lookup.ts';
import { integerArgument } from './arguments.ts';

interface LogsOptions {
  follow?: boolean;
  lines: number;
  json?: boolean;
}

export function registerLogs(program: Command, runtime: CliRuntime): void {
  program
    .command('logs')
    .description("the orchestrator's and agents' logs (readable on a terminal, JSON lines otherwise)")
    .argument('[agent]', "only this agent's lines")
    .option('-f, --follow', 'keep printing new lines until Ctrl-C')
    .option('-n, --lines <n>', 'how many of the last lines to show first', integerArgument(0, 1_000_000), 50)
    .option('--json', 'the raw pino JSON lines, even on a terminal')
    .addHelpText('after', '\nLogs are written by `claw up` to <data-dir>/logs/orchestrator.log.')
    .action(async (agent: string | undefined, options: LogsOptions, command: Command) => {
      const context = runtime.context(command);
      const { output, settings } = context;
      const path = settings.logPath;
      let size: number;
      try {
        size = statSync(path).size;
      } catch {
        throw new ClawError(
          'NOT_FOUND',
          `No log file at ${path}: \`claw up\` writes it (an orchestrator started with \`npm start\` logs to its own terminal)`,
        );
      }
      if (agent !== undefined) await checkAgentWhenReachable(context, agent);
      const pretty = output.isTTY && !options.json;
      const format = createLogFormatter(output.color.isColorSupported);
      const wanted = (line: string): boolean => {
        if (agent === undefined) return true;
        const entry = parseLogLine(line);
        return entry !== undefined && lineIsFromAgent(entry, agent);
      };
      const print = (line: string): void => output.line(pretty ? format(line) : line);

      const tail: string[] = [];
      const splitter = new LineSplitter();
      for await (const chunk of createReadStream(path, { encoding: 'utf8', end: Math.max(0, size - 1) })) {
        for (const line of splitter.push(chunk as string)) {
          if (!wanted(line)) continue;
          tail.push(line);
          if (tail.length > options.lines) tail.shift();
        }
      }
      for (const line of splitter.flush()) if (wanted(line)) tail.push(line);
      for (const line of options.lines === 0 ? [] : tail.slice(-options.lines)) print(line);
      if (!options.follow) return;

      let stopped = false;
      const stop = (): void => {
        stopped = true;
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      let offset = size;
      const followSplitter = new LineSplitter();
      while (!stopped) {
        let current: number;
        try {
          current = statSync(path).size;
        } catch {
          current = 0;
        }
        if (current < offset) offset = 0; // the file was truncated or replaced: start over
        if (current > offset) {
          for await (const chunk of createReadStream(path, { encoding: 'utf8', start: offset, end: current - 1 })) {
            for (const line of followSplitter.push(chunk as string)) if (wanted(line)) print(line);
          }
          offset = current;
        }
        await sleep(250);
      }
    });
}

/** An unknown agent is an error when the orchestrator can say so; logs stay readable while it is down. */
async function checkAgentWhenReachable(context: CommandContext, agent: string): Promise<void> {
  let connection: OrchestratorConnection;
  try {
    connection = await OrchestratorConnection.connect(context.settings, { timeoutMs: 1500 });
  } catch {
    return;
  }
  try {
    await requireAgentName(connection, agent);
  } finally {
    await connection.close();
  }
}
