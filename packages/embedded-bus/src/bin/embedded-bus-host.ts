/**
 * A standalone embedded bus: opens the SQLite file, serves it on a Unix socket, and exits cleanly on
 * SIGTERM/SIGINT. Used by the durability test (which SIGKILLs it) and for debugging; in production the
 * orchestrator hosts the same BusService in its own process.
 *
 *   node --import tsx packages/embedded-bus/src/bin/embedded-bus-host.ts \
 *     --database data/bus.sqlite --socket /tmp/claw.sock --tokens '{"orchestrator":"secret-token"}'
 *
 * Prints one JSON line `{"event":"ready",...}` on stdout once it accepts connections.
 */
import { IpcServer, tokenAuthenticator } from '@clawfleet/ipc';
import { ClawError, silentLogger } from '@clawfleet/protocol';
import { EmbeddedDatabase, identityForName } from '../index.ts';
import { BusService } from '../service/bus-service.ts';
import { readHostConfig } from './host-config.ts';
import { stderrLogger } from './stderr-logger.ts';

async function main(): Promise<void> {
  const config = readHostConfig(process.argv.slice(2), process.env);
  for (const deprecation of config.deprecations) process.stderr.write(`embedded-bus-host: warning: ${deprecation}\n`);
  const logger = config.verbose ? stderrLogger({ component: 'embedded-bus-host' }) : silentLogger;
  const database = EmbeddedDatabase.open({ path: config.databasePath, logger });
  const server = new IpcServer({
    socketPath: config.socketPath,
    authenticate: tokenAuthenticator(config.tokens),
    logger,
  });
  const service = new BusService({ database, server, identityForName, logger });
  await server.listen();
  process.stdout.write(`${JSON.stringify({ event: 'ready', pid: process.pid, socketPath: config.socketPath })}\n`);

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    try {
      await server.close({ timeoutMs: 5_000 });
    } finally {
      service.dispose();
      database.close();
    }
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((error: unknown) => {
  const clawError = ClawError.from(error);
  process.stderr.write(`embedded-bus-host: ${clawError.code}: ${clawError.message}\n`);
  process.exit(clawError.code === 'CONFIG_INVALID' ? 2 : 1);
});
