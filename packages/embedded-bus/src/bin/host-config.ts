import { ClawError, identityNameSchema } from '@clawfleet/protocol';
import { z } from 'zod';

/** Configuration of the standalone embedded bus host, read once from argv and the environment. */
export interface HostConfig {
  /** SQLite file (created if missing). */
  databasePath: string;
  socketPath: string;
  /** Agent name -> token; `orchestrator` (the admin) must be among them to register agents. */
  tokens: Readonly<Record<string, string>>;
  /** Log to stderr as JSON lines. */
  verbose: boolean;
  /** Deprecated names that were used, each with what to use instead; printed once at start. */
  deprecations: readonly string[];
}

/** The tokens variable, in the `CLAW_*` family of every other setting. */
export const TOKENS_VARIABLE = 'CLAW_BUS_TOKENS';
/** Its old name: still read (when the new one is unset) with a deprecation warning, until 0.2. */
export const DEPRECATED_TOKENS_VARIABLE = 'CLAWFLEET_BUS_TOKENS';

export const HOST_USAGE =
  'Usage: embedded-bus-host --database <file> --socket <path> [--tokens <json>] [--verbose]\n' +
  '  --tokens (or env CLAW_BUS_TOKENS): JSON object of agent name -> token, e.g. {"orchestrator":"secret"}';

const tokensSchema = z
  .record(identityNameSchema, z.string().min(8).max(1024))
  .refine((tokens) => Object.keys(tokens).length > 0, {
    message: 'at least one agent token is required',
  });

function fail(message: string): never {
  throw new ClawError('CONFIG_INVALID', `${message}\n${HOST_USAGE}`);
}

/** Parses argv (without node and script) and env; throws CONFIG_INVALID naming the option and the env var. */
export function readHostConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): HostConfig {
  const values = new Map<string, string>();
  let verbose = false;
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index] as string;
    if (argument === '--verbose') {
      verbose = true;
      continue;
    }
    if (!['--database', '--socket', '--tokens'].includes(argument)) fail(`Unknown argument \`${argument}\``);
    const value = argv[index + 1];
    if (value === undefined || value.startsWith('--')) fail(`Expected a value after \`${argument}\``);
    values.set(argument, value);
    index += 1;
  }
  const databasePath = values.get('--database') ?? fail('Missing `--database <file>`');
  const socketPath = values.get('--socket') ?? fail('Missing `--socket <path>`');
  const deprecations: string[] = [];
  let fromEnvironment = env[TOKENS_VARIABLE];
  if (fromEnvironment === undefined && env[DEPRECATED_TOKENS_VARIABLE] !== undefined) {
    fromEnvironment = env[DEPRECATED_TOKENS_VARIABLE];
    deprecations.push(`${DEPRECATED_TOKENS_VARIABLE} is deprecated: rename it to ${TOKENS_VARIABLE}`);
  }
  const tokensText = values.get('--tokens') ?? fromEnvironment ?? fail('Missing `--tokens` (env CLAW_BUS_TOKENS)');
  let tokensJson: unknown;
  try {
    tokensJson = JSON.parse(tokensText);
  } catch {
    fail('Expected `--tokens` (env CLAW_BUS_TOKENS) to be JSON');
  }
  const tokens = tokensSchema.safeParse(tokensJson);
  if (!tokens.success) {
    const issue = tokens.error.issues[0];
    fail(`Invalid \`--tokens\` (env CLAW_BUS_TOKENS) at \`${issue?.path.join('.')}\`: ${issue?.message}`);
  }
  return Object.freeze({
    databasePath,
    socketPath,
    tokens: Object.freeze({ ...tokens.data }),
    verbose,
    deprecations: Object.freeze(deprecations),
  });
}
