/**
 * `npm run bench -- <name> [args]`: runs bench/<name>.ts, whose `run(args)` measures its subject
 * and its baseline in the same run and prints a table with the ratios.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((file) => file.endsWith('.ts') && file !== 'run.ts')
  .map((file) => file.slice(0, -3))
  .sort();

const [name, ...args] = process.argv.slice(2);
const usage = `Usage: npm run bench -- <name> [args]\nBenchmarks: ${available.join(', ')}`;
// Exit 2 (a usage error) either way: a script or CI job that forgot the name must not pass silently.
if (!name) {
  console.error(usage);
  process.exit(2);
}
if (!available.includes(name)) {
  console.error(`Unknown benchmark \`${name}\`\n${usage}`);
  process.exit(2);
}
const module = (await import(pathToFileURL(join(here, `${name}.ts`)).href)) as {
  run?: (args: string[]) => Promise<void>;
};
if (typeof module.run !== 'function') {
  console.error(`bench/${name}.ts does not export run(args)`);
  process.exit(2);
}
await module.run(args);
