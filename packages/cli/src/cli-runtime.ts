import type { Command } from 'commander';
import { type CliEnvironment, CommandContext } from './command-context.ts';

/** Handed to every command's registration: makes a command's context from its parsed options. */
export class CliRuntime {
  readonly environment: CliEnvironment;

  constructor(environment: CliEnvironment) {
    this.environment = environment;
  }

  context(command: Command): CommandContext {
    return new CommandContext(command, this.environment);
  }
}
