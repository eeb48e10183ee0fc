/**
 * The agent deployable: one process = one agent. Reads its config once from the environment
 * (config.ts), creates the process's one pino logger, runs the agent until SIGTERM or SIGINT, and
 * stops it cleanly (the current cycle stays recorded in the database and resumes at the next start).
 * It assumes no parent process: run it under the orchestrator or alone in a container.
 *
 *   CLAW_AGENT_NAME=DevClaw CLAW_AGENT_TOKEN=... CLAW_SOCKET=.data/run/orchestrator.sock \
 *     node dist/runtime/agent.js     (the build, `npm run build`; from the sources:
 *     node --import tsx packages/agent-runtime/src/agent-main.ts)
 *
 * Exit codes: 0 stopped by a signal; 69 the orchestrator stayed unreachable past the reconnect window
 * (CLAW_AGENT_RECONNECT_SECONDS, default 30); 77 the orchestrator refused the token at reconnect (or said goodbye for good);
 * 78 bad configuration; 1 anything else.
 */

import { writeSync } from 'node:fs';
import { ClawError, type Logger } from '@clawfleet/protocol';
import pino from 'pino';
import { type AgentProcessConfig, loadAgentProcessConfig } from './config.ts';
import { type RunningAgent, startAgentProcess } from './process/agent-process.ts';
import { watchConnection } from './process/connection-watchdog.ts';

const EXIT_UNREACHABLE = 69;
const EXIT_REFUSED = 77;
const EXIT_CONFIG = 78;
/** How long stopping may take before the process exits anyway. */
const STOP_GRACE_MS = 10_000;

process.umask(0o077);

function createLogger(config: AgentProcessConfig): pino.Logger {
  return pino(
    {
      level: config.logLevel,
      name: config.agentName,
      base: { agent: config.agentName },
      redact: { paths: ['token', '*.token', 'authorization', '*.authorization'], censor: '[redacted]' },
      ...(config.logFormat === 'pretty'
        ? { transport: { target: 'pino-pretty', options: { colorize: true, ignore: 'pid,hostname' } } }
        : {}),
    },
    config.logFormat === 'pretty' ? undefined : standardOutput,
  );
}

const EAGAIN_RETRIES = 50;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * Log lines to fd 1, synchronously, dropped when no one can read them. pino's default destination
 * (sonic-boom) retries a failed synchronous write forever, sleeping 100 ms a time, and flushes at
 * exit: with the orchestrator that read our output gone (EPIPE), an agent hung in that loop for good,
 * deaf to SIGTERM. Here a broken pipe turns logging off, and a full one (EAGAIN: a slow
 * reader) is retried a bounded number of times before the line is dropped.
 */
const standardOutput = {
  broken: false,
  write(line: string): void {
    if (this.broken) return;
    const bytes = Buffer.from(line);
    let written = 0;
    for (let attempt = 0; written < bytes.length; ) {
      try {
        written += writeSync(1, bytes, written, bytes.length - written);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if ((code === 'EAGAIN' || code === 'EBUSY') && attempt < EAGAIN_RETRIES) {
          attempt += 1;
          Atomics.wait(sleeper, 0, 0, 2);
          continue;
        }
        if (code !== 'EAGAIN' && code !== 'EBUSY') this.broken = true;
        return;
      }
    }
  },
};

/** Runs a logging call whose failure (EPIPE: the orchestrator that read our output is gone) must not matter. */
function quietly(log: () => void): void {
  try {
    log();
  } catch {
    // Nothing to tell, and no one to tell it to.
  }
}

async function main(): Promise<void> {
  let config: AgentProcessConfig;
  try {
    config = loadAgentProcessConfig(process.env, { isTerminal: process.stdout.isTTY === true });
  } catch (error) {
    process.stderr.write(`clawfleet agent: ${ClawError.from(error).message}\n`);
    process.exit(EXIT_CONFIG);
  }
  const root = createLogger(config);
  const logger = root as unknown as Logger;
  let agent: RunningAgent;
  // Set once the agent runs: another instance that took over the runner lease ends this one.
  let onRunnerLost = (_error: ClawError): void => {};
  try {
    agent = await startAgentProcess(config, logger, { onRunnerLost: (error) => onRunnerLost(error) });
  } catch (error) {
    const clawError = ClawError.from(error);
    root.error({ err: clawError, code: clawError.code }, 'agent failed to start');
    process.exit(clawError.code === 'CONFIG_INVALID' || clawError.code === 'TOOL_UNKNOWN' ? EXIT_CONFIG : 1);
  }
  let stopping = false;
  let exitCode = 0;
  const stop = (reason: string, code = 0) => {
    // A later, more specific reason (the orchestrator lost while already stopping) sets the exit code.
    if (code !== 0) exitCode = code;
    if (stopping) return;
    stopping = true;
    // Stopping waits on the connection and the current cycle; with the orchestrator gone it could
    // wait for good (an agent that ignored SIGTERM and lived on was found so). Bounded, and armed
    // before anything is logged: a log line to a dead orchestrator's pipe must not prevent the exit.
    setTimeout(() => process.exit(exitCode), STOP_GRACE_MS).unref();
    quietly(() => root.info({ reason }, 'stopping'));
    agent.stop().then(
      () => process.exit(exitCode),
      (error: unknown) => {
        root.error({ err: error }, 'stopping failed');
        process.exit(exitCode === 0 ? 1 : exitCode);
      },
    );
  };
  // An orchestrator that died does not leave its agents running: give it a window to come back.
  watchConnection(agent.connection, {
    windowMs: config.reconnectWindowSeconds * 1_000,
    onLost: (loss) => {
      if (loss.kind === 'unreachable') {
        quietly(() =>
          root.error(
            { windowSeconds: config.reconnectWindowSeconds, exitCode: EXIT_UNREACHABLE },
            `orchestrator unreachable for ${config.reconnectWindowSeconds} s; exiting`,
          ),
        );
        stop('orchestrator-lost', EXIT_UNREACHABLE);
      } else {
        quietly(() =>
          root.error(
            { code: loss.error.code, exitCode: EXIT_REFUSED },
            `orchestrator refused this agent or closed for good (${loss.error.code}: ${loss.error.message}); exiting`,
          ),
        );
        stop('orchestrator-refused', EXIT_REFUSED);
      }
    },
  });
  onRunnerLost = () => stop('runner-lost', 1);
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // A bus connection that cannot come back leaves nothing to do: exit, and let the supervisor restart us.
  agent.bus.subscribe('SELECT * FROM agent', {
    onError: (error) => {
      root.error({ err: error }, 'bus subscription ended');
      stop('bus-lost');
    },
  });
}

await main();
