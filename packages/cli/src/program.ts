import { Command } from 'commander';
import { CliRuntime } from './cli-runtime.ts';
import type { CliEnvironment } from './command-context.ts';
import { registerAgents } from './commands/agents.ts';
import { registerAttention } from './commands/attention.ts';
import { registerDb } from './commands/db.ts';
import { registerDoctor } from './commands/doctor.ts';
import { registerDown } from './commands/down.ts';
import { registerLogs } from './commands/logs.ts';
import { registerMemory } from './commands/memory.ts';
import { registerMessages } from './commands/messages.ts';
import { registerPlans } from './commands/plans.ts';
import { registerReflections } from './commands/reflections.ts';
import { registerReplay } from './commands/replay.ts';
import { registerStatus } from './commands/status.ts';
import { registerStimulus } from './commands/stimulus.ts';
import { registerTasks } from './commands/tasks.ts';
import { registerUp } from './commands/up.ts';
import { registerUsage } from './commands/usage.ts';
import { registerWhy } from './commands/why.ts';

/** Builds the `claw` command tree. Every command has `--help`; every read command has `--json`. */
export function createProgram(environment: CliEnvironment): Command {
  const runtime = new CliRuntime(environment);
  const { stdout, stderr } = environment.streams;
  const program = new Command('claw')
    .description('Run and talk to a Clawfleet: five agents, a local model, one database.')
    .option('--data-dir <path>', 'the orchestrator data directory (default: CLAW_DATA_DIR, the config file, or .data)')
    .option('--socket <path>', 'the orchestrator socket (default: CLAW_SOCKET or <data-dir>/run/orchestrator.sock)')
    .option(
      '--server <url>',
      'talk to this SpacetimeDB server instead of the orchestrator (data commands; token in SPACETIMEDB_TOKEN or SPACETIMEDB_TOKEN_FILE); `claw doctor` checks it (default there: SPACETIMEDB_URL)',
    )
    .option('--database <name>', 'the SpacetimeDB database name (default: SPACETIMEDB_DATABASE, else clawfleet)')
    .option('--no-color', 'no colour (also: NO_COLOR=1; colour is only used on a terminal)')
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (text) => stdout.write(text),
      writeErr: (text) => stderr.write(text),
      // One line: `claw: <what is wrong>`; commander's own suggestion ("Did you mean ...?") stays on it.
      outputError: (text, write) => write(`claw: ${text.replace(/^error: /, '').replace(/\n+(?=.)/g, ' ')}`),
    })
    .exitOverride();
  // Subcommands inherit the output settings and throw instead of exiting, so main decides the code.
  program.configureHelp({ sortSubcommands: false, showGlobalOptions: true });
  registerUp(program, runtime);
  registerDown(program, runtime);
  registerStatus(program, runtime);
  registerStimulus(program, runtime);
  registerTasks(program, runtime);
  registerMessages(program, runtime);
  registerReflections(program, runtime);
  registerMemory(program, runtime);
  registerWhy(program, runtime);
  registerReplay(program, runtime);
  registerAttention(program, runtime);
  registerPlans(program, runtime);
  registerUsage(program, runtime);
  registerDb(program, runtime);
  registerLogs(program, runtime);
  registerAgents(program, runtime);
  registerDoctor(program, runtime);
  for (const command of allCommands(program)) command.exitOverride();
  return program;
}

function allCommands(command: Command): Command[] {
  return command.commands.flatMap((child) => [child, ...allCommands(child)]);
}
