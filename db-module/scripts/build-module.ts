/**
 * `npm run db:build` (`npm run -w @clawfleet/db-module build`): writes the SpacetimeDB module bundle
 * to dist/bundle/, then evaluates it the way SpacetimeDB registers it and prints what registered,
 * so a table or reducer that fails to register is found before a publish.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { bundleModule } from './bundle.ts';
import { loadModuleDefinition, section } from './module-definition.ts';

export const bundlePath = fileURLToPath(new URL('../dist/bundle/clawfleet-module.js', import.meta.url));

export async function buildModule(): Promise<string> {
  const text = await bundleModule({ minify: true });
  await mkdir(fileURLToPath(new URL('../dist/bundle/', import.meta.url)), { recursive: true });
  await writeFile(bundlePath, text);
  return bundlePath;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    const path = await buildModule();
    const definition = await loadModuleDefinition();
    const count = (tag: string) => section<unknown[]>(definition, tag).length;
    process.stdout.write(
      `Wrote ${path}\nRegisters ${count('Tables')} tables, ${count('Reducers')} reducers, ${count('Schedules')} schedules, ${count('Views')} views\n`,
    );
  } catch (error) {
    process.stderr.write(`db:build failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}
