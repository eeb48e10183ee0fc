import { createStimulus, DEFAULT_STIMULUS_PRIORITY } from '@clawfleet/fleet-views';
import { ClawError } from '@clawfleet/protocol';
import type { Command } from 'commander';
import type { CliRuntime } from '../cli-runtime.ts';
import { CommandExit, EXIT_CODES } from '../errors/exit-codes.ts';
import { requireAgentName } from './agents-lookup.ts';
import { durationArgument, integerArgument } from './arguments.ts';
import { followStimulus, trailTimeout } from './stimulus-trail.ts';

interface StimulusOptions {
  to?: string;
  priority: number;
  wait?: boolean;
  timeout: number;
  json?: boolean;
}

export function registerStimulus(program: Command, runtime: CliRuntime): void {
  program
    .command('stimulus')
    .description('give the agents something to act on (a message from you, as a stimulus)')
    .argument('<text>', 'what you want done or want them to know')
    .option('--to <agent>', 'meant for this agent only (default: any agent may take it)')
    .option('--priority <p>', 'priority 0 (lowest) to 9 (highest)', integerArgument(0, 9), DEFAULT_STIMULUS_PRIORITY)
    .option('--wait', 'follow it live until it is triaged, acted on and reflected on, printing the trail')
    .option(
      '--timeout <duration>',
      'with --wait: give up waiting after this long (it goes on anyway)',
      durationArgument,
      300_000,
    )
    .option('--json', 'print the created stimulus (with --wait: the whole trail) as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  claw stimulus "Summarise yesterday\'s failed tasks"\n  claw stimulus "Check the disk" --to OpsClaw --priority 9',
    )
    .action(async (text: string, options: StimulusOptions, command: Command) => {
      const context = runtime.context(command);
      if (text.trim() === '')
        throw new ClawError('INVALID_PARAMS', 'The stimulus text is empty: say what you want done');
      await context.withConnection(async (connection) => {
        if (options.to !== undefined) await requireAgentName(connection, options.to);
        // Subscribed before the stimulus exists, so no step of its trail can be missed.
        const bus = options.wait ? await connection.bus() : undefined;
        const stimulus = await createStimulus(connection, {
          text,
          priority: options.priority,
          to: options.to,
          source: 'cli',
        });
        if (!options.json) {
          context.output.line(
            `stimulus #${stimulus.id} created${options.to ? ` for ${options.to}` : ''} (priority ${options.priority})`,
          );
        }
        if (!bus) {
          if (options.json) context.output.json(stimulus);
          return;
        }
        const interrupt = new AbortController();
        const onSignal = (): void => interrupt.abort();
        process.once('SIGINT', onSignal);
        try {
          const trail = await followStimulus(bus, Number(stimulus.id), {
            timeoutMs: options.timeout,
            output: context.output,
            live: !options.json,
            signal: interrupt.signal,
          });
          if (options.json) context.output.json({ stimulus, ...trail });
          if (interrupt.signal.aborted) throw new CommandExit(EXIT_CODES.interrupted);
          if (!trail.complete) throw trailTimeout(trail, options.timeout);
        } finally {
          process.off('SIGINT', onSignal);
        }
      });
    });
}
