import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { ClawError } from '@clawfleet/protocol';
import { z } from 'zod';

/** Where the CLI finds a running orchestrator and its files. */
export interface CliSettings {
  readonly dataDirectory: string;
  readonly socketPath: string;
  readonly tokensPath: string;
  /** `claw up --detach` writes the orchestrator's pid here; `claw down` reads it. */
  readonly pidPath: string;
  /** The orchestrator's JSON log lines, written by `claw up` (both modes). */
  readonly logPath: string;
  /** The config file the orchestrator will read, when there is one. */
  readonly configFile: string | undefined;
  /** Optional SpacetimeDB server (`--server` / `SPACETIMEDB_URL`) for `claw doctor`. */
  readonly spacetimedbUrl: string | undefined;
  readonly spacetimedbDatabase: string | undefined;
  /** How the orchestrator will run agents (`CLAW_RUNTIME` or `runtime`), for `claw doctor`. */
  readonly runtime: string;
  /** The docker runtime's agent image (`CLAW_AGENT_IMAGE` or `agentImage`). */
  readonly agentImage: string;
  /**
   * The data commands' SpacetimeDB server: `--server` only (SPACETIMEDB_URL alone does not move them
   * off the orchestrator, which may use the embedded bus beside a SpacetimeDB, as compose's stack does).
   */
  readonly dataServer: { url: string; database: string; token: SpacetimeDbToken } | undefined;
}

/** An admin identity's token for SpacetimeDB: given in the environment, or in a file read when it is used. */
export type SpacetimeDbToken = { value: string } | { file: string } | undefined;

/** The database `--server` uses when neither `--database` nor SPACETIMEDB_DATABASE names one (compose publishes this). */
export const DEFAULT_SPACETIMEDB_DATABASE = 'clawfleet';

export interface CliSettingsOverrides {
  dataDir?: string | undefined;
  socket?: string | undefined;
  server?: string | undefined;
  database?: string | undefined;
}

/** Only the keys the CLI needs; the orchestrator validates the whole file. */
const configFileSchema = z.looseObject({
  dataDirectory: z.string().min(1).optional(),
  socketPath: z.string().min(1).optional(),
  runtime: z.string().min(1).optional(),
  agentImage: z.string().min(1).optional(),
});

function readConfigFile(path: string): z.infer<typeof configFileSchema> {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ClawError('CONFIG_INVALID', `Cannot read config file ${path} (CLAW_CONFIG): ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (error) {
    throw new ClawError('CONFIG_INVALID', `Config file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = configFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ClawError(
      'CONFIG_INVALID',
      `Invalid option \`${issue?.path.join('.') ?? '?'}\` in config file ${path}: ${issue?.message ?? 'invalid'}`,
    );
  }
  return parsed.data;
}

/**
 * Resolves the data directory and socket exactly as the orchestrator's config does
 * (docs/configuration.md): built-in default, then the config file (`CLAW_CONFIG`, or
 * `clawfleet.config.json` in the working folder), then `CLAW_DATA_DIR` / `CLAW_SOCKET`, and last the
 * command line (`--data-dir`, `--socket`). Relative paths are taken from the working folder.
 */
export function resolveCliSettings(
  overrides: CliSettingsOverrides = {},
  environment: NodeJS.ProcessEnv = process.env,
  workingDirectory = process.cwd(),
): CliSettings {
  const explicitFile = environment.CLAW_CONFIG;
  const defaultFile = join(workingDirectory, 'clawfleet.config.json');
  const configFile = explicitFile
    ? resolve(workingDirectory, explicitFile)
    : existsSync(defaultFile)
      ? defaultFile
      : undefined;
  const fromFile = configFile ? readConfigFile(configFile) : {};
  const pick = (...values: (string | undefined)[]): string | undefined =>
    values.find((value) => value !== undefined && value !== '');

  const dataDirectory = resolve(
    workingDirectory,
    pick(overrides.dataDir, environment.CLAW_DATA_DIR, fromFile.dataDirectory) ?? '.data',
  );
  const socket = pick(overrides.socket, environment.CLAW_SOCKET, fromFile.socketPath);
  return Object.freeze({
    dataDirectory,
    socketPath: socket
      ? isAbsolute(socket)
        ? socket
        : resolve(workingDirectory, socket)
      : join(dataDirectory, 'run', 'orchestrator.sock'),
    tokensPath: join(dataDirectory, 'tokens.json'),
    pidPath: join(dataDirectory, 'orchestrator.pid'),
    logPath: join(dataDirectory, 'logs', 'orchestrator.log'),
    configFile,
    spacetimedbUrl: pick(overrides.server, environment.SPACETIMEDB_URL),
    spacetimedbDatabase: pick(overrides.database, environment.SPACETIMEDB_DATABASE),
    runtime: pick(environment.CLAW_RUNTIME, fromFile.runtime) ?? 'process',
    // The orchestrator's default (config.ts DEFAULT_AGENT_IMAGE); the CLI never imports it.
    agentImage: pick(environment.CLAW_AGENT_IMAGE, fromFile.agentImage) ?? 'clawfleet/agent',
    dataServer:
      overrides.server === undefined || overrides.server === ''
        ? undefined
        : {
            url: overrides.server,
            database: pick(overrides.database, environment.SPACETIMEDB_DATABASE) ?? DEFAULT_SPACETIMEDB_DATABASE,
            token: environment.SPACETIMEDB_TOKEN
              ? { value: environment.SPACETIMEDB_TOKEN }
              : environment.SPACETIMEDB_TOKEN_FILE
                ? { file: resolve(workingDirectory, environment.SPACETIMEDB_TOKEN_FILE) }
                : undefined,
          },
  });
}
