import type { BusClient } from '@clawfleet/bus-client';
import type { FleetConnection } from '@clawfleet/fleet-views';
import { ClawError } from '@clawfleet/protocol';
import type { Command } from 'commander';
import { OrchestratorConnection } from './connection/orchestrator-connection.ts';
import { SpacetimeDbConnection } from './connection/spacetimedb-connection.ts';
import { colorEnabled, Output, type OutputStreams } from './output/output.ts';
import { type CliSettings, resolveCliSettings } from './settings/cli-settings.ts';

/** The options every command accepts (declared once on the root program). */
export interface GlobalOptions {
  dataDir?: string;
  socket?: string;
  server?: string;
  database?: string;
  color?: boolean;
}

/** What the process gives a command: streams, environment and the working folder, so tests can run `claw` in-process too. */
export interface CliEnvironment {
  streams: OutputStreams;
  environment: NodeJS.ProcessEnv;
  workingDirectory: string;
}

/**
 * What the data commands talk to: the orchestrator over its socket, or with `--server` a SpacetimeDB
 * database directly. Both read and write the same tables through the same reducers.
 */
export type DataConnection = FleetConnection & {
  /** A client that subscribes, for commands that follow changes live. */
  bus(): Promise<BusClient>;
  close(): Promise<void>;
};

/** What a command's action works with: resolved settings, output, and a way to reach the orchestrator. */
export class CommandContext {
  readonly settings: CliSettings;
  readonly output: Output;
  readonly environment: CliEnvironment;

  constructor(command: Command, environment: CliEnvironment) {
    const options = command.optsWithGlobals<GlobalOptions>();
    this.environment = environment;
    this.settings = resolveCliSettings(
      { dataDir: options.dataDir, socket: options.socket, server: options.server, database: options.database },
      environment.environment,
      environment.workingDirectory,
    );
    this.output = new Output(
      environment.streams,
      colorEnabled(environment.streams.stdout, environment.environment, options.color),
    );
  }

  /** The orchestrator, or with `--server` the SpacetimeDB database. */
  connect(): Promise<DataConnection> {
    const server = this.settings.dataServer;
    return server === undefined ? OrchestratorConnection.connect(this.settings) : SpacetimeDbConnection.connect(server);
  }

  /**
   * For what only the orchestrator knows or does (its status, supervising agents): refuses `--server`
   * at once, before anything is printed or sent.
   */
  requireOrchestrator(what: string): void {
    if (this.settings.dataServer !== undefined) {
      throw new ClawError(
        'INVALID_PARAMS',
        `${what} is the orchestrator's, not in the database, so \`--server\` cannot reach it: run this command without --server, where the orchestrator runs`,
      );
    }
  }

  /** Runs `work` with the orchestrator's connection (refusing `--server`), closed afterwards whatever happens. */
  async withOrchestrator<T>(what: string, work: (connection: OrchestratorConnection) => Promise<T>): Promise<T> {
    this.requireOrchestrator(what);
    const connection = await OrchestratorConnection.connect(this.settings);
    try {
      return await work(connection);
    } finally {
      await connection.close();
    }
  }

  /** Runs `work` with a connection that is closed afterwards, whatever happens. */
  async withConnection<T>(work: (connection: DataConnection) => Promise<T>): Promise<T> {
    const connection = await this.connect();
    try {
      return await work(connection);
    } finally {
      await connection.close();
    }
  }
}
