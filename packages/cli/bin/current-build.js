// Which code `claw` runs: the bundles `npm run build` makes, or the TypeScript sources. Plain
// JavaScript, because it decides before anything can compile TypeScript.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The folder of the current build (`<root>/dist/runtime`), or undefined when the sources must run:
 * `CLAW_FROM_SOURCE=1`, no build (or an unreadable manifest), or a source file the build was made
 * from that changed (or went away) after the build started. A checkout without any of those sources
 * (a container holding only the bundles) runs the build.
 *
 * @param {string} root the repository root
 * @param {NodeJS.ProcessEnv} environment
 * @returns {string | undefined}
 */
export function currentBuild(root, environment) {
  if (environment.CLAW_FROM_SOURCE === '1') return undefined;
  const directory = join(root, 'dist/runtime');
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(join(directory, 'manifest.json'), 'utf8'));
  } catch {
    return undefined;
  }
  if (typeof manifest?.builtAt !== 'number' || !Array.isArray(manifest.inputs) || manifest.inputs.length === 0) {
    return undefined;
  }
  let missing = 0;
  for (const input of manifest.inputs) {
    if (typeof input !== 'string') return undefined;
    let modified;
    try {
      modified = statSync(join(root, input)).mtimeMs;
    } catch {
      missing += 1;
      continue;
    }
    if (modified > manifest.builtAt) return undefined;
  }
  return missing === 0 || missing === manifest.inputs.length ? directory : undefined;
}
