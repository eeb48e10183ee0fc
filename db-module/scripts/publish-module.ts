/**
 * `npm run -w @clawfleet/db-module publish -- --server <url> --database <name> [--token <token>]`
 * (or SPACETIMEDB_URL, SPACETIMEDB_DATABASE, SPACETIMEDB_TOKEN). Builds the bundle, then publishes it.
 * With `--token-file <path>` (SPACETIMEDB_TOKEN_FILE) the owner token is read from that file, and a
 * token minted by a first publish is written there: what compose's one-shot publisher uses.
 */

import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { isClawError } from '@clawfleet/protocol';
import { buildModule } from './build-module.ts';
import { readOwnerTokenFile, writeOwnerTokenFile } from './owner-token-file.ts';
import { MINIMUM_SERVER_VERSION, publishModule } from './publish.ts';

const USAGE = `Usage: npm run db:publish -- --server <url> --database <name> [--token <owner token> | --token-file <path>] [--clear]
  (or set SPACETIMEDB_URL, SPACETIMEDB_DATABASE, SPACETIMEDB_TOKEN, SPACETIMEDB_TOKEN_FILE)
Without a token, a new identity is created and its token printed: keep it to publish updates.
  --token-file <path>      read the owner token from this file; when it does not exist yet, publish
                           as a new owner and write its token there (mode 0600)
Needs SpacetimeDB ${MINIMUM_SERVER_VERSION} or newer; the server's version is checked first.
  --clear                  delete the database's data and publish afresh (development only)
  --allow-unknown-version  publish to a server that does not report its version`;

let values: {
  server?: string;
  database?: string;
  token?: string;
  'token-file'?: string;
  clear?: boolean;
  'allow-unknown-version'?: boolean;
  help?: boolean;
};
try {
  values = parseArgs({
    options: {
      server: { type: 'string' },
      database: { type: 'string' },
      token: { type: 'string' },
      'token-file': { type: 'string' },
      clear: { type: 'boolean' },
      'allow-unknown-version': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  }).values;
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
  process.exit(2);
}
if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

try {
  const tokenFile = values['token-file'] ?? process.env.SPACETIMEDB_TOKEN_FILE;
  const givenToken = values.token ?? process.env.SPACETIMEDB_TOKEN;
  const storedToken = givenToken === undefined && tokenFile ? await readOwnerTokenFile(tokenFile) : undefined;
  const bundle = await readFile(await buildModule(), 'utf8');
  const result = await publishModule({
    serverUrl: values.server ?? process.env.SPACETIMEDB_URL,
    database: values.database ?? process.env.SPACETIMEDB_DATABASE,
    token: givenToken ?? storedToken,
    bundle,
    clear: values.clear === true,
    allowUnknownVersion: values['allow-unknown-version'] === true,
  } as Parameters<typeof publishModule>[0]);
  if (tokenFile) {
    if (storedToken === undefined) await writeOwnerTokenFile(tokenFile, result.token);
    process.stdout.write(
      `Published to SpacetimeDB ${result.serverVersion ?? '(version unknown)'} as the owner whose token is in ${tokenFile}.\n`,
    );
  } else {
    process.stdout.write(
      `Published to SpacetimeDB ${result.serverVersion ?? '(version unknown)'}. Owner token (keep it secret; pass --token to publish updates): ${result.token}\n`,
    );
  }
} catch (error) {
  const message = isClawError(error)
    ? `${error.code}: ${error.message} (option --server/SPACETIMEDB_URL, --database/SPACETIMEDB_DATABASE, --token/SPACETIMEDB_TOKEN, --token-file/SPACETIMEDB_TOKEN_FILE)`
    : String(error);
  process.stderr.write(`${message}\n`);
  process.exitCode = 1;
}
