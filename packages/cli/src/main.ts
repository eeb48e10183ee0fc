/**
 * `claw`'s process entry: runs the command line, and turns every way a command can end into one
 * line on stderr and an exit code from the table in errors/exit-codes.ts (docs/cli.md). A user
 * error never prints a stack trace; set CLAW_DEBUG=1 to see one for unexpected failures.
 */
import { ClawError } from '@clawfleet/protocol';
import { CommanderError } from 'commander';
import { CommandExit, EXIT_CODES, exitCodeFor } from './errors/exit-codes.ts';
import { colorEnabled } from './output/output.ts';
import { createProgram } from './program.ts';

export async function runCli(argv: readonly string[], environment = process.env): Promise<number> {
  const streams = { stdout: process.stdout, stderr: process.stderr };
  const program = createProgram({ streams, environment, workingDirectory: process.cwd() });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT_CODES.ok;
  } catch (error) {
    if (error instanceof CommandExit) return error.exitCode;
    if (error instanceof CommanderError) {
      // Help and version end with 0; every other commander error is a usage error it already printed.
      return error.exitCode === 0 ? EXIT_CODES.ok : EXIT_CODES.usage;
    }
    const clawError = ClawError.from(error);
    const red = colorEnabled(process.stderr, environment, !argv.includes('--no-color'))
      ? (text: string) => `\u001b[31m${text}\u001b[39m`
      : (text: string) => text;
    const known = error instanceof ClawError;
    process.stderr.write(`${red('claw:')} ${known ? clawError.message : `unexpected error: ${clawError.message}`}\n`);
    if (environment.CLAW_DEBUG && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
    return known ? exitCodeFor(clawError.code) : EXIT_CODES.failure;
  }
}

process.exitCode = await runCli(process.argv.slice(2));
