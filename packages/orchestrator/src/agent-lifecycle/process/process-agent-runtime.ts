import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ClawError, type Logger, silentLogger } from '@clawfleet/protocol';
import type { AgentExit, AgentInstance, AgentLaunchSpec, AgentRuntime } from '../agent-runtime.ts';

export interface ProcessAgentRuntimeOptions {
  /** The script each agent process runs: the agent entry point. */
  entry: string;
  /** Node flags before the entry, e.g. `['--import', 'tsx']`. @default [] */
  execArgv?: readonly string[];
  /** Working folder of the agent processes. */
  cwd: string;
  /**
   * Receives each line an agent writes (agents log JSON lines). @default each line is written to
   * this process's stdout or stderr unchanged, so `npm start` shows every agent's log.
   */
  onOutput?: (agent: string, stream: 'stdout' | 'stderr', line: string) => void;
  /**
   * Where each running agent's pid is kept (`<agent>.pid`). An orchestrator that was killed leaves
   * its agents running (they keep reconnecting); the next one kills such a leftover before it
   * starts the agent again, so no agent ever runs twice. @default none (no pid files)
   */
  pidDirectory?: string;
  logger?: Logger;
}

function defaultOutput(_agent: string, stream: 'stdout' | 'stderr', line: string): void {
  (stream === 'stdout' ? process.stdout : process.stderr).write(`${line}\n`);
}

/**
 * Agents as child processes of the orchestrator: `node [execArgv] entry` with exactly the
 * environment of the launch spec (none of the orchestrator's variables leak into an agent), each
 * in its own process group.
 */
export class ProcessAgentRuntime implements AgentRuntime {
  readonly kind = 'process';
  /** An orphaned agent process cannot be given pipes or an exit status again: it is killed instead. */
  readonly canAdopt = false;
  readonly #options: ProcessAgentRuntimeOptions;
  readonly #logger: Logger;

  constructor(options: ProcessAgentRuntimeOptions) {
    this.#options = options;
    this.#logger = (options.logger ?? silentLogger).child({ component: 'agent-runtime', runtime: 'process' });
  }

  async launch(spec: AgentLaunchSpec): Promise<AgentInstance> {
    const pidFile =
      this.#options.pidDirectory === undefined ? undefined : join(this.#options.pidDirectory, `${spec.agent}.pid`);
    if (pidFile !== undefined) await this.#killLeftover(spec.agent, pidFile);
    const child = spawn(process.execPath, [...(this.#options.execArgv ?? []), this.#options.entry], {
      cwd: this.#options.cwd,
      env: { ...spec.environment },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group: a Ctrl-C in the terminal (or a signal to the orchestrator's group)
      // reaches the orchestrator only, which stops the agents itself, first, in order. An agent
      // orphaned by a killed orchestrator loses its connection and exits on its own.
      detached: true,
    });
    const exited = new Promise<AgentExit>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    try {
      await once(child, 'spawn');
    } catch (error) {
      throw new ClawError('INTERNAL', `Could not start agent ${spec.agent}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    const output = this.#options.onOutput ?? defaultOutput;
    for (const stream of ['stdout', 'stderr'] as const) {
      createInterface({ input: child[stream], crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) =>
        output(spec.agent, stream, line),
      );
    }
    const pid = child.pid as number;
    if (pidFile !== undefined) {
      mkdirSync(this.#options.pidDirectory as string, { recursive: true, mode: 0o700 });
      writeFileSync(pidFile, `${pid}\n`, { mode: 0o600 });
      void exited.then(() => {
        if (readPid(pidFile) === pid) rmSync(pidFile, { force: true });
      });
    }
    this.#logger.info({ agent: spec.agent, pid }, 'agent process started');
    let ended: AgentExit | undefined;
    void exited.then((exit) => {
      ended = exit;
    });
    return {
      agent: spec.agent,
      id: `process ${pid}`,
      adopted: false,
      exited,
      signal(signal) {
        if (ended === undefined) child.kill(signal);
      },
      async stop({ graceMs }) {
        if (ended !== undefined) return ended;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        try {
          return await exited;
        } finally {
          clearTimeout(timer);
        }
      },
    };
  }

  /**
   * Kills the process a pid file names if it is still this agent's entry (its command line names
   * the entry script, so a reused pid of an unrelated process is left alone), and waits for it.
   */
  async #killLeftover(agent: string, pidFile: string): Promise<void> {
    const pid = readPid(pidFile);
    if (pid === undefined || !isAlive(pid)) return;
    let commandLine: string;
    try {
      commandLine = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      return; // no /proc (not Linux) or already gone: nothing to check it against
    }
    if (!commandLine.includes(this.#options.entry)) return;
    this.#logger.warn({ agent, pid }, 'an agent process of an earlier orchestrator is still running: killing it');
    process.kill(pid, 'SIGKILL');
    for (let attempt = 0; attempt < 200 && isAlive(pid); attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

function readPid(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isSafeInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
