/** `npm run -w @clawfleet/db-module build`: writes the SpacetimeDB module bundle to dist/bundle/. */
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { bundleModule } from './bundle.ts';

export const bundlePath = fileURLToPath(new URL('../dist/bundle/clawfleet-module.js', import.meta.url));

export async function buildModule(): Promise<string> {
  const text = await bundleModule({ minify: true });
  await mkdir(fileURLToPath(new URL('../dist/bundle/', import.meta.url)), { recursive: true });
  await writeFile(bundlePath, text);
  return bundlePath;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const path = await buildModule();
  process.stdout.write(`Wrote ${path}\n`);
}
