/**
 * The agent deployable: one process = one agent. Reads its config once from the environment
 * (config.ts), creates the process's one pino logger, runs the agent until SIGTERM or SIGINT, and
 * stops it cleanly (the current cycle stays recorded in the database and resumes at the next start).
 * It assumes no parent process: run it under the orchestrator or alone in a container.
 *
 *   CLAW_AGENT_NAME=DevClaw CLAW_AGENT_TOKEN=... CLAW_SOCKET=.data/orchestrator.sock \
 *     node --import tsx packages/agent-runtime/src/agent-main.ts
 *
 * Exit codes: 0 stopped by a signal; 69 the orchestrator stayed unreachable past the reconnect window
 * (CLAW_AGENT_RECONNECT_SECONDS, default 30); 77 the orchestrator refused the token at reconnect (or said goodbye for good);
 * 78 bad configuration; 1 anything else.
 */
import { ClawError, type Logger } from '@clawfleet/protocol';
import pino from 'pino';
import { type AgentProcessConfig, loadAgentProcessConfig } from './config.ts';
import { type RunningAgent, startAgentProcess } from './process/agent-process.ts';
import { watchConnection } from './process/connection-watchdog.ts';

const EXIT_UNREACHABLE = 69;
const EXIT_REFUSED = 77;
const EXIT_CONFIG = 78;
/** How long stopping may take once the orchestrator is gone before the process exits anyway. */
const LOST_STOP_GRACE_MS = 5_000;

process.umask(0o077);

function createLogger(config: AgentProcessConfig): pino.Logger {
  return pino({
    level: config.logLevel,
    name: config.agentName,
    base: { agent: config.agentName },
    redact: { paths: ['token', '*.token', 'authorization', '*.authorization'], censor: '[redacted]' },
    ...(config.logFormat === 'pretty'
      ? { transport: { target: 'pino-pretty', options: { colorize: true, ignore: 'pid,hostname' } } }
      : {}),
  });
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
  try {
    agent = await startAgentProcess(config, logger);
  } catch (error) {
    const clawError = ClawError.from(error);
    root.error({ err: clawError, code: clawError.code }, 'agent failed to start');
    process.exit(clawError.code === 'CONFIG_INVALID' || clawError.code === 'TOOL_UNKNOWN' ? EXIT_CONFIG : 1);
  }
  let stopping = false;
  const stop = (signal: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    root.info({ signal }, 'stopping');
    if (code !== 0) setTimeout(() => process.exit(code), LOST_STOP_GRACE_MS).unref();
    agent.stop().then(
      () => process.exit(code),
      (error: unknown) => {
        root.error({ err: error }, 'stopping failed');
        process.exit(code === 0 ? 1 : code);
      },
    );
  };
  // An orchestrator that died does not leave its agents running: give it a window to come back.
  watchConnection(agent.connection, {
    windowMs: config.reconnectWindowSeconds * 1_000,
    onLost: (loss) => {
      if (loss.kind === 'unreachable') {
        root.error(
          { windowSeconds: config.reconnectWindowSeconds, exitCode: EXIT_UNREACHABLE },
          `orchestrator unreachable for ${config.reconnectWindowSeconds} s; exiting`,
        );
        stop('orchestrator-lost', EXIT_UNREACHABLE);
      } else {
        root.error(
          { code: loss.error.code, exitCode: EXIT_REFUSED },
          `orchestrator refused this agent or closed for good (${loss.error.code}: ${loss.error.message}); exiting`,
        );
        stop('orchestrator-refused', EXIT_REFUSED);
      }
    },
  });
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
