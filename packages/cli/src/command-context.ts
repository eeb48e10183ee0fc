import type { Command } from 'commander';
import { OrchestratorConnection } from './connection/orchestrator-connection.ts';
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

  connect(): Promise<OrchestratorConnection> {
    return OrchestratorConnection.connect(this.settings);
  }

  /** Runs `work` with a connection that is closed afterwards, whatever happens. */
  async withConnection<T>(work: (connection: OrchestratorConnection) => Promise<T>): Promise<T> {
    const connection = await this.connect();
    try {
      return await work(connection);
    } finally {
      await connection.close();
    }
  }
}
