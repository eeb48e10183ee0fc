import { ClawError, describeValue } from '@clawfleet/protocol';
import { z } from 'zod';
import { type AllowedCommand, resolveCommandList, runCommand, scrubbedEnvironment } from '../sandbox/command-runner.ts';
import { type AgentTool, defineTool } from '../tool.ts';

export interface CommandToolOptions {
  /**
   * The agent's command list: executable name → first arguments it may start with (empty: any).
   * From the agent's `agent.json` (`commands`).
   */
  commands: Readonly<Record<string, readonly string[]>>;
  /** PATH the names are looked up on, once, when the tool is built (the agent process's config supplies it). */
  searchPath: string;
  /** @default 60000 */
  defaultTimeoutMs?: number;
  /** Upper bound a call may ask for. @default 600000 */
  maxTimeoutMs?: number;
  /** @default 262144 (256 KiB, stdout and stderr together) */
  outputCapBytes?: number;
  /** Variables added to the scrubbed environment (never the parent's). @default {} */
  environment?: Readonly<Record<string, string>>;
  /** @default 2000 */
  killGraceMs?: number;
}

const argumentField = z
  .string()
  .max(4096)
  .refine((value) => !value.includes('\0'), 'An argument may not contain a NUL character');

/**
 * `command.run`: runs one executable from the agent's command list in its own workspace, with no
 * shell, a timeout, an output cap and a scrubbed environment.
 */
export function createCommandTool(options: CommandToolOptions): AgentTool<{
  command: string;
  args: string[];
  timeoutSeconds?: number | undefined;
}> {
  const allowed: Map<string, AllowedCommand> = resolveCommandList(options.commands, options.searchPath);
  const defaultTimeoutMs = options.defaultTimeoutMs ?? 60_000;
  const maxTimeoutMs = options.maxTimeoutMs ?? 600_000;
  const outputCapBytes = options.outputCapBytes ?? 256 * 1024;
  const names = [...allowed.keys()].sort();
  const listing = names
    .map((name) => {
      const first = allowed.get(name)?.firstArguments ?? [];
      return first.length === 0 ? name : `${name} (${first.join(' | ')} ...)`;
    })
    .join(', ');

  return defineTool({
    name: 'command.run',
    description:
      `Run a program in your own workspace, without a shell (arguments are passed as they are; no pipes, ` +
      `redirections or variables). Allowed: ${listing || 'none'}. Output is capped at ${outputCapBytes} bytes.`,
    argsSchema: z.strictObject({
      command: z.string().min(1).max(64),
      args: z.array(argumentField).max(64).default([]),
      timeoutSeconds: z
        .number()
        .int()
        .min(1)
        .max(Math.floor(maxTimeoutMs / 1000))
        .optional(),
    }),
    sideEffect: true,
    async run(args, context) {
      const command = allowed.get(args.command);
      if (command === undefined) {
        throw new ClawError(
          'COMMAND_NOT_ALLOWED',
          `${describeValue(args.command)} is not on ${context.agent}'s command list (${names.join(', ') || 'empty'})`,
          { details: { command: args.command } },
        );
      }
      if (command.firstArguments.length > 0 && !command.firstArguments.includes(args.args[0] ?? '')) {
        throw new ClawError(
          'COMMAND_NOT_ALLOWED',
          `\`${args.command}\` may only start with ${command.firstArguments.join(', ')}; got ${describeValue(args.args[0] ?? '')}`,
          { details: { command: args.command, firstArgument: args.args[0] ?? '' } },
        );
      }
      const timeoutMs = args.timeoutSeconds === undefined ? defaultTimeoutMs : args.timeoutSeconds * 1000;
      context.logger.info({ command: args.command, args: args.args, timeoutMs }, 'running command');
      const outcome = await runCommand(command.path, args.args, {
        cwd: context.workspaceDir,
        timeoutMs,
        outputCapBytes,
        env: scrubbedEnvironment(allowed.values(), context.workspaceDir, options.environment),
        signal: context.signal,
        ...(options.killGraceMs === undefined ? {} : { killGraceMs: options.killGraceMs }),
      });
      const status = outcome.exitCode === null ? `killed by ${outcome.signal}` : `exit code ${outcome.exitCode}`;
      const sections = [`${args.command}: ${status} after ${outcome.durationMs} ms`];
      if (outcome.stdout.length > 0) sections.push(`stdout:\n${outcome.stdout}`);
      if (outcome.stderr.length > 0) sections.push(`stderr:\n${outcome.stderr}`);
      return {
        output: {
          command: args.command,
          args: args.args,
          exitCode: outcome.exitCode,
          signal: outcome.signal,
          stdout: outcome.stdout,
          stderr: outcome.stderr,
          durationMs: outcome.durationMs,
        },
        text: sections.join('\n'),
      };
    },
  });
}
