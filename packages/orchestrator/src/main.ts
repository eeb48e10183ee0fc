/**
 * The orchestrator deployable: `npm start`. Reads the config once, creates the one pino logger of
 * the process, starts the Orchestrator and stops it cleanly on SIGINT/SIGTERM, draining in-flight
 * requests for up to `drainTimeoutMs` (a second signal, a moment after the first, exits at once).
 * A start-up failure the user can fix prints one line with the problem and the fix, and exits with
 * the code of its class (startup/startup-error.ts, docs/configuration.md).
 */
import { ClawError, type Logger } from '@clawfleet/protocol';
import pino from 'pino';
import { loadConfig, type OrchestratorConfig } from './config/config.ts';
import { CLI_IDENTITY, Orchestrator } from './orchestrator.ts';
import { EXIT_CODES, exitCodeFor, fixFor } from './startup/index.ts';

/**
 * A Ctrl-C in a terminal reaches this process twice when it runs under `npm start` (from the
 * terminal, and forwarded by npm): a repeat this soon after the first is the same request to stop.
 */
const SAME_SIGNAL_WINDOW_MS = 500;

// Everything this process and its worker create (database, WAL, models, tokens, socket) is
// readable by the owner only, whatever the shell's umask.
process.umask(0o077);

function createLogger(config: OrchestratorConfig): pino.Logger {
  return pino({
    level: config.logLevel,
    // Each part binds its own `component`; the process is named once.
    name: 'orchestrator',
    redact: {
      paths: ['token', '*.token', 'tokens', '*.tokens', 'authorization', '*.authorization'],
      censor: '[redacted]',
    },
    ...(config.logFormat === 'pretty'
      ? { transport: { target: 'pino-pretty', options: { colorize: true, ignore: 'pid,hostname' } } }
      : {}),
  });
}

async function main(): Promise<void> {
  let config: OrchestratorConfig;
  try {
    config = loadConfig();
  } catch (error) {
    process.stderr.write(
      `clawfleet: ${ClawError.from(error).message}. Fix: correct it in the environment or the config file (docs/configuration.md).\n`,
    );
    process.exit(EXIT_CODES.config);
  }
  const root = createLogger(config);
  const logger = root.child({ component: 'main' });
  // Parts bind their own `component`, so they get the root logger.
  const log = root as unknown as Logger;

  let orchestrator: Orchestrator;
  try {
    orchestrator = await Orchestrator.start(config, log);
  } catch (error) {
    const clawError = ClawError.from(error);
    const exitCode = exitCodeFor(clawError);
    if (exitCode === EXIT_CODES.software) {
      // Not a failure we know how to explain: a bug, so the stack is worth having.
      logger.fatal({ err: clawError, code: clawError.code }, `could not start: ${clawError.message}`);
    } else {
      const fix = fixFor(clawError);
      const message = clawError.message.endsWith('.') ? clawError.message : `${clawError.message}.`;
      process.stderr.write(`clawfleet: cannot start: ${message}${fix ? ` Fix: ${fix}` : ''}\n`);
    }
    logger.flush();
    process.exitCode = exitCode;
    return;
  }
  logger.info(
    {
      socketPath: config.socketPath,
      http: orchestrator.http?.url ?? 'off',
      tokensFile: config.tokensPath,
      database: config.databasePath,
      models: config.models.map((model) => model.id),
      agents: Object.keys(config.agents),
      ...(config.startAgents
        ? { runtime: config.runtime === 'docker' ? `docker, image ${config.docker.image}` : 'process' }
        : {}),
      cliIdentity: CLI_IDENTITY,
    },
    `ready: agents and the CLI connect to the socket with their name and the token from the tokens file${
      orchestrator.http
        ? `; dashboard and HTTP API at ${orchestrator.http.url} (admin token: the cli entry of the tokens file)`
        : ''
    }`,
  );

  let firstSignalAt: number | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (firstSignalAt !== undefined) {
      if (Date.now() - firstSignalAt < SAME_SIGNAL_WINDOW_MS) return;
      logger.warn({ signal }, 'second signal: exiting now without waiting for the drain');
      process.exit(EXIT_CODES.interrupted);
    }
    firstSignalAt = Date.now();
    logger.info({ signal, drainTimeoutMs: config.drainTimeoutMs }, 'shutting down: draining in-flight requests');
    orchestrator
      .stop()
      .then(() => {
        logger.flush();
        process.exitCode = 0;
      })
      .catch((error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exitCode = 1;
      });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

await main();
