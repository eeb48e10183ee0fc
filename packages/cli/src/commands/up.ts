import { spawn } from 'node:child_process';
import { closeSync, createReadStream, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClawError } from '@clawfleet/protocol';
import { type Command, Option } from 'commander';
import type { CliRuntime } from '../cli-runtime.ts';
import type { CommandContext } from '../command-context.ts';
import { OrchestratorConnection } from '../connection/orchestrator-connection.ts';
import { CommandExit, EXIT_CODES } from '../errors/exit-codes.ts';
import { prepareLogFile, removePidFile, writePidFile } from '../process/data-files.ts';
import { createLogFormatter, LineSplitter, parseLogLine } from '../process/log-format.ts';
import { type ProcessEntry, resolveOrchestratorEntry } from '../process/orchestrator-entry.ts';
import { durationArgument } from './arguments.ts';

interface UpOptions {
  detach?: boolean;
  timeout: number;
  runtime?: 'process' | 'docker';
}

export function registerUp(program: Command, runtime: CliRuntime): void {
  program
    .command('up')
    .description(
      'start the orchestrator (embedded bus, model, agents) in the foreground, or in the background with --detach',
    )
    .option(
      '-d, --detach',
      'run in the background: pid in <data-dir>/orchestrator.pid, logs in <data-dir>/logs/orchestrator.log',
    )
    .addOption(
      new Option(
        '--runtime <runtime>',
        'how agents run: child processes, or Docker containers from the agent image (default: CLAW_RUNTIME or `runtime` in the config file, else process)',
      ).choices(['process', 'docker']),
    )
    .option('--timeout <duration>', 'with --detach: how long to wait for it to be ready', durationArgument, 180_000)
    .addHelpText(
      'after',
      '\nIn the foreground Ctrl-C stops it (draining in-flight work); a second Ctrl-C stops it at once.\nEither way its JSON log lines are also appended to <data-dir>/logs/orchestrator.log (`claw logs`).',
    )
    .action(async (options: UpOptions, command: Command) => {
      const context = runtime.context(command);
      await refuseIfRunning(context);
      const entry = resolveOrchestratorEntry(context.environment.environment);
      const environment = childEnvironment(context, options.runtime);
      const code = options.detach
        ? await upDetached(context, entry, environment, options)
        : await upForeground(context, entry, environment);
      if (code !== EXIT_CODES.ok) throw new CommandExit(code);
    });
}

async function refuseIfRunning(context: CommandContext): Promise<void> {
  let connection: OrchestratorConnection;
  try {
    connection = await OrchestratorConnection.connect(context.settings, { timeoutMs: 1500 });
  } catch (error) {
    // Not running (or not ours to talk to): the orchestrator's own lock and socket check decide the rest.
    if (error instanceof ClawError && (error.code === 'CONNECT_FAILED' || error.code === 'AUTH_FAILED')) return;
    throw error;
  }
  try {
    const status = await connection.status();
    throw new ClawError(
      'CONFLICT',
      `The orchestrator is already running (pid ${status.pid}, socket ${status.socketPath}); \`claw down\` stops it`,
      { retryable: false },
    );
  } finally {
    await connection.close();
  }
}

function childEnvironment(context: CommandContext, runtime: UpOptions['runtime']): NodeJS.ProcessEnv {
  const { settings, environment } = context;
  return {
    ...environment.environment,
    CLAW_DATA_DIR: settings.dataDirectory,
    CLAW_SOCKET: settings.socketPath,
    // The orchestrator checks the engine and the agent image before it starts anything, and
    // refuses in one line with the fix (how to start Docker, how to build the image).
    ...(runtime === undefined ? {} : { CLAW_RUNTIME: runtime }),
    // The CLI formats for the terminal itself, and keeps the JSON lines in the log file.
    CLAW_LOG_FORMAT: 'json',
  };
}

/** What the ready line says, printed once the orchestrator listens. */
function printWhereEverythingIs(
  context: CommandContext,
  ready: Record<string, unknown>,
  pid: number,
  orchestrator: ProcessEntry,
): void {
  const { output, settings } = context;
  const list = (value: unknown): string => (Array.isArray(value) ? value.join(', ') : '-');
  output.note('');
  output.note(output.color.green(output.color.bold(`Clawfleet is up (orchestrator pid ${pid})`)));
  const rows: [string, string][] = [
    ['socket', String(ready.socketPath ?? settings.socketPath)],
    // The dashboard, HTTP API and /metrics (docs/http-api.md); the admin token is the tokens file's `cli` entry.
    ...(typeof ready.http === 'string'
      ? ([
          [
            'http',
            ready.http === 'off' ? 'off (CLAW_HTTP_PORT=off)' : `${ready.http} (token: "cli" in the tokens file)`,
          ],
        ] as [string, string][])
      : []),
    ['data', settings.dataDirectory],
    ['database', String(ready.database ?? '-')],
    ['tokens', String(ready.tokensFile ?? settings.tokensPath)],
    ['logs', settings.logPath],
    ['models', list(ready.models)],
    ['agents', `${list(ready.agents)}${typeof ready.runtime === 'string' ? ` (${ready.runtime})` : ''}`],
    [
      'code',
      orchestrator.code === 'bundle'
        ? `built JavaScript, ${dirname(orchestrator.file)}`
        : 'TypeScript sources through tsx (`npm run build` for the faster, smaller build)',
    ],
  ];
  for (const [key, value] of rows) output.note(`  ${output.color.dim(key.padEnd(9))}${value}`);
  output.note(`Next: claw status · claw stimulus "..." · claw logs -f${settings.pidPath ? ' · claw down' : ''}`);
  output.note('');
}

/** Model loading progress (0-1) on a log line: the orchestrator logs `{ model, percent }` 'loading model'. */
function progressOf(entry: Record<string, unknown>): number | undefined {
  const value = entry.percent;
  return typeof value === 'number' && value >= 0 && value <= 100 && entry.msg === 'loading model'
    ? value / 100
    : undefined;
}

async function upForeground(
  context: CommandContext,
  orchestrator: ProcessEntry,
  environment: NodeJS.ProcessEnv,
): Promise<number> {
  const { output } = context;
  const logFd = prepareLogFile(context.settings);
  // Its own process group: a terminal's Ctrl-C reaches the CLI only, which forwards it once.
  const child = spawn(process.execPath, [...orchestrator.nodeFlags, orchestrator.file], {
    cwd: context.environment.workingDirectory,
    env: environment,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const format = createLogFormatter(output.color.isColorSupported);
  const terminal = output.isTTY;
  let progressShown = false;
  const handle = (line: string, fromStderr: boolean): void => {
    writeSync(logFd, `${line}\n`);
    const entry = parseLogLine(line);
    if (!entry) {
      output.note(line);
      return;
    }
    const progress = progressOf(entry);
    if (terminal && progress !== undefined) {
      output.write(
        `\r${output.color.dim(`loading model ${String(entry.model ?? '')}`)} ${Math.round(progress * 100)}%   `,
      );
      progressShown = true;
      return;
    }
    if (progressShown) {
      output.write('\n');
      progressShown = false;
    }
    if (terminal) output.line(format(line));
    else if (fromStderr) output.note(line);
    else output.line(line);
    if (typeof entry.msg === 'string' && entry.msg.startsWith('ready') && child.pid !== undefined) {
      printWhereEverythingIs(context, entry, child.pid, orchestrator);
    }
  };
  for (const [stream, fromStderr] of [
    [child.stdout, false],
    [child.stderr, true],
  ] as const) {
    const splitter = new LineSplitter();
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      for (const line of splitter.push(chunk)) handle(line, fromStderr);
    });
    stream.on('end', () => {
      for (const line of splitter.flush()) handle(line, fromStderr);
    });
  }
  const forward = (signal: NodeJS.Signals): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const signal of signals) process.on(signal, forward);
  try {
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolveExit, reject) => {
      child.once('error', reject);
      child.once('close', (exitCode, exitSignal) => resolveExit([exitCode, exitSignal]));
    });
    if (code !== null) return code;
    return signal === 'SIGINT' ? EXIT_CODES.interrupted : EXIT_CODES.failure;
  } finally {
    for (const signal of signals) process.off(signal, forward);
    closeSync(logFd);
  }
}

async function upDetached(
  context: CommandContext,
  orchestrator: ProcessEntry,
  environment: NodeJS.ProcessEnv,
  options: UpOptions,
): Promise<number> {
  const { output, settings } = context;
  const logFd = prepareLogFile(settings);
  const startOffset = statSync(settings.logPath).size;
  const child = spawn(process.execPath, [...orchestrator.nodeFlags, orchestrator.file], {
    cwd: context.environment.workingDirectory,
    env: environment,
    stdio: ['ignore', logFd, logFd],
    detached: true,
  });
  closeSync(logFd);
  const pid = child.pid;
  if (pid === undefined) throw new ClawError('INTERNAL', 'Could not start the orchestrator process');
  writePidFile(settings, pid);
  output.note(`starting the orchestrator (pid ${pid}); logs: ${settings.logPath}`);

  const exited = new Promise<number>((resolveExit) => child.once('exit', (code) => resolveExit(code ?? 1)));
  const deadline = Date.now() + options.timeout;
  let offset = startOffset;
  const splitter = new LineSplitter();
  let reason = '';
  for (;;) {
    const code = await Promise.race([exited, sleep(200, undefined)]);
    const chunk = await readFrom(settings.logPath, offset);
    offset += Buffer.byteLength(chunk);
    for (const line of [...splitter.push(chunk), ...(code === undefined ? [] : splitter.flush())]) {
      const entry = parseLogLine(line);
      // The reason for a failed start: its last error line, or a plain line on stderr.
      if (!entry) reason = line;
      else if (Number(entry.level) >= 50) reason = String(entry.msg ?? line);
      if (entry && typeof entry.msg === 'string' && entry.msg.startsWith('ready')) {
        child.unref();
        printWhereEverythingIs(context, entry, pid, orchestrator);
        return EXIT_CODES.ok;
      }
      const progress = entry ? progressOf(entry) : undefined;
      if (progress !== undefined && output.isTTY)
        output.note(`loading model ${String(entry?.model ?? '')} ${Math.round(progress * 100)}%`);
    }
    if (code !== undefined) {
      removePidFile(settings);
      // Its own one-line reason (a start-up check that failed) and its exit code, as `npm start` would give them.
      output.note(
        `claw: the orchestrator exited with code ${code} before it was ready: ${reason.replace(/^clawfleet: /, '') || 'no reason logged'} (log: ${settings.logPath})`,
      );
      return code === 0 ? EXIT_CODES.failure : code;
    }
    if (Date.now() > deadline) {
      child.unref();
      throw new ClawError(
        'TIMEOUT',
        `The orchestrator (pid ${pid}) is not ready after ${Math.round(options.timeout / 1000)} s; it keeps running: see ${settings.logPath}, or \`claw down\``,
      );
    }
  }
}

function readFrom(path: string, offset: number): Promise<string> {
  return new Promise((resolveRead, reject) => {
    let text = '';
    createReadStream(path, { start: offset, encoding: 'utf8' })
      .on('data', (chunk) => {
        text += chunk;
      })
      .on('end', () => resolveRead(text))
      .on('error', reject);
  });
}
