import { spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { ClawError, type JsonValue } from '@clawfleet/protocol';

/** One executable an agent may run, and optionally the first arguments it may start with. */
export interface AllowedCommand {
  /** Absolute path, resolved once when the tool is built, so a PATH change cannot swap it. */
  readonly path: string;
  /** When non-empty, the first argument must be one of these (`npm test`, `git status`). */
  readonly firstArguments: readonly string[];
}

/** Executable names as they appear on a command list: a bare name, no path, no shell syntax. */
const COMMAND_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;

/**
 * Resolves each name of a command list to an absolute executable on `searchPath`. A name that is
 * not a bare name, or that is found nowhere, is a configuration error found at start-up.
 */
export function resolveCommandList(
  list: Readonly<Record<string, readonly string[]>>,
  searchPath: string,
): Map<string, AllowedCommand> {
  const resolved = new Map<string, AllowedCommand>();
  for (const [name, firstArguments] of Object.entries(list)) {
    if (!COMMAND_NAME.test(name)) {
      throw new ClawError('CONFIG_INVALID', `Command list entry \`${name}\` must be a bare executable name`);
    }
    const path = searchPath
      .split(delimiter)
      .filter((folder) => isAbsolute(folder))
      .map((folder) => join(folder, name))
      .find((candidate) => {
        try {
          accessSync(candidate, constants.X_OK);
          return statSync(candidate).isFile();
        } catch {
          return false;
        }
      });
    if (path === undefined) {
      throw new ClawError(
        'CONFIG_INVALID',
        `Command list entry \`${name}\` is not an executable on PATH (${searchPath})`,
      );
    }
    resolved.set(name, { path, firstArguments: [...firstArguments] });
  }
  return resolved;
}

export interface RunCommandOptions {
  readonly cwd: string;
  readonly timeoutMs: number;
  /** stdout and stderr together; one byte more kills the process group. */
  readonly outputCapBytes: number;
  /** The complete environment of the child; nothing of the parent's is inherited. */
  readonly env: Readonly<Record<string, string>>;
  readonly signal: AbortSignal;
  /** Time between SIGTERM and SIGKILL on timeout or abort. @default 2000 */
  readonly killGraceMs?: number;
}

export interface CommandOutcome {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

/**
 * Runs an executable without a shell (arguments reach it verbatim: `;`, `$( )`, `|` mean nothing)
 * in its own process group, so a timeout or a flood kills everything it started, not only the
 * direct child. This is what `execFile` does, plus the group kill and a cap that kills on the first
 * byte over rather than after buffering.
 */
export function runCommand(path: string, args: readonly string[], options: RunCommandOptions): Promise<CommandOutcome> {
  const started = performance.now();
  return new Promise<CommandOutcome>((resolve, reject) => {
    options.signal.throwIfAborted();
    const child = spawn(path, args, {
      cwd: options.cwd,
      env: { ...options.env },
      shell: false,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let outputBytes = 0;
    let failure: ClawError | undefined;
    let graceTimer: NodeJS.Timeout | undefined;

    const killGroup = (signal: NodeJS.Signals): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, signal);
      } catch {
        // the group is already gone
      }
    };
    const stop = (error: ClawError, immediately: boolean): void => {
      if (failure !== undefined) return;
      failure = error;
      if (immediately) {
        killGroup('SIGKILL');
        return;
      }
      killGroup('SIGTERM');
      graceTimer = setTimeout(() => killGroup('SIGKILL'), options.killGraceMs ?? 2_000);
      graceTimer.unref();
    };
    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      if (failure !== undefined) return;
      const room = options.outputCapBytes - outputBytes;
      outputBytes += chunk.length;
      if (chunk.length > room) {
        into.push(chunk.subarray(0, Math.max(0, room)));
        stop(
          new ClawError(
            'COMMAND_OUTPUT_LIMIT',
            `The command wrote more than ${options.outputCapBytes} bytes of output and was killed`,
            { details: { limit: options.outputCapBytes } },
          ),
          true,
        );
        return;
      }
      into.push(chunk);
    };
    child.stdout.on('data', collect(stdout));
    child.stderr.on('data', collect(stderr));

    const timer = setTimeout(
      () =>
        stop(
          new ClawError('COMMAND_TIMEOUT', `The command ran longer than ${options.timeoutMs} ms and was killed`, {
            details: { timeoutMs: options.timeoutMs },
          }),
          false,
        ),
      options.timeoutMs,
    );
    const onAbort = () => stop(new ClawError('CANCELLED', 'The command was cancelled with its cycle'), false);
    options.signal.addEventListener('abort', onAbort, { once: true });

    const finish = () => {
      clearTimeout(timer);
      if (graceTimer !== undefined) clearTimeout(graceTimer);
      options.signal.removeEventListener('abort', onAbort);
    };
    child.once('error', (error) => {
      finish();
      reject(new ClawError('TOOL_FAILED', `Could not start the command: ${error.message}`, { cause: error }));
    });
    // 'close' (not 'exit'): every pipe is drained, so the output is complete.
    child.once('close', (exitCode, signal) => {
      finish();
      // Members of the group that outlived the leader (a daemonized grandchild) go with it.
      killGroup('SIGKILL');
      const outcome: CommandOutcome = {
        exitCode,
        signal,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        durationMs: Math.round(performance.now() - started),
      };
      if (failure !== undefined) {
        const details: Record<string, JsonValue> = {
          ...failure.details,
          stdoutHead: outcome.stdout.slice(0, 500),
          stderrHead: outcome.stderr.slice(0, 500),
        };
        reject(new ClawError(failure.code, failure.message, { details }));
        return;
      }
      resolve(outcome);
    });
  });
}

/** The environment a command sees: a fixed PATH of the allowed executables' folders and system folders, HOME in its workspace. */
export function scrubbedEnvironment(
  allowed: Iterable<AllowedCommand>,
  workspaceDir: string,
  extra: Readonly<Record<string, string>> = {},
): Record<string, string> {
  const folders = new Set<string>();
  for (const command of allowed) folders.add(dirname(command.path));
  for (const folder of ['/usr/local/bin', '/usr/bin', '/bin']) folders.add(folder);
  return {
    PATH: [...folders].join(delimiter),
    HOME: workspaceDir,
    TMPDIR: workspaceDir,
    LANG: 'C.UTF-8',
    CI: '1',
    NO_COLOR: '1',
    ...extra,
  };
}
