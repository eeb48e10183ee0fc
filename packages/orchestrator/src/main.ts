/**
 * The orchestrator deployable: `npm start`. Reads the config once, creates the one pino logger of
 * the process, starts the Orchestrator and stops it cleanly on SIGINT/SIGTERM (a second signal
 * exits at once).
 */
import { ClawError, type Logger } from '@clawfleet/protocol';
import pino from 'pino';
import { loadConfig, type OrchestratorConfig } from './config/config.ts';
import { CLI_IDENTITY, Orchestrator } from './orchestrator.ts';

/** sysexits EX_CONFIG: the configuration is wrong; restarting will not help. */
const EXIT_CONFIG = 78;

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
    process.stderr.write(`clawfleet: ${ClawError.from(error).message}\n`);
    process.exit(EXIT_CONFIG);
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
    logger.fatal({ err: clawError, code: clawError.code }, `could not start: ${clawError.message}`);
    logger.flush();
    process.exitCode = clawError.code === 'CONFIG_INVALID' || clawError.code.startsWith('MODEL_') ? EXIT_CONFIG : 1;
    return;
  }
  logger.info(
    {
      socketPath: config.socketPath,
      tokensFile: config.tokensPath,
      database: config.databasePath,
      models: config.models.map((model) => model.id),
      agents: Object.keys(config.agents),
      cliIdentity: CLI_IDENTITY,
    },
    'ready: agents and the CLI connect to the socket with their name and the token from the tokens file',
  );

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    logger.info({ signal }, 'shutting down');
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
