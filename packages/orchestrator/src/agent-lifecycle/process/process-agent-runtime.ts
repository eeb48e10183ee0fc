import { spawn } from 'node:child_process';
import { once } from 'node:events';
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
  readonly #options: ProcessAgentRuntimeOptions;
  readonly #logger: Logger;

  constructor(options: ProcessAgentRuntimeOptions) {
    this.#options = options;
    this.#logger = (options.logger ?? silentLogger).child({ component: 'agent-runtime', runtime: 'process' });
  }

  async launch(spec: AgentLaunchSpec): Promise<AgentInstance> {
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
    this.#logger.info({ agent: spec.agent, pid }, 'agent process started');
    let ended: AgentExit | undefined;
    void exited.then((exit) => {
      ended = exit;
    });
    return {
      agent: spec.agent,
      id: `process ${pid}`,
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
}
