/**
 * `npm run -w @clawfleet/db-module publish -- --server <url> --database <name> [--token <token>]`
 * (or SPACETIMEDB_URL, SPACETIMEDB_DATABASE, SPACETIMEDB_TOKEN). Builds the bundle, then publishes it.
 */

import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { isClawError } from '@clawfleet/protocol';
import { buildModule } from './build-module.ts';
import { publishModule } from './publish.ts';

const { values } = parseArgs({
  options: { server: { type: 'string' }, database: { type: 'string' }, token: { type: 'string' } },
  strict: true,
});

try {
  const bundle = await readFile(await buildModule(), 'utf8');
  const result = await publishModule({
    serverUrl: values.server ?? process.env.SPACETIMEDB_URL,
    database: values.database ?? process.env.SPACETIMEDB_DATABASE,
    token: values.token ?? process.env.SPACETIMEDB_TOKEN,
    bundle,
  } as Parameters<typeof publishModule>[0]);
  process.stdout.write(`Published. Owner token (keep it secret; pass --token to publish updates): ${result.token}\n`);
} catch (error) {
  const message = isClawError(error)
    ? `${error.code}: ${error.message} (option --server/SPACETIMEDB_URL, --database/SPACETIMEDB_DATABASE, --token/SPACETIMEDB_TOKEN)`
    : String(error);
  process.stderr.write(`${message}\n`);
  process.exitCode = 1;
}
