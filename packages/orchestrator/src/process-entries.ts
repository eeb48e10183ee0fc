import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * Whether this process runs the bundles `npm run build` makes (`dist/runtime/*.js`, plain
 * JavaScript) or the TypeScript sources (tsx, vitest). In a bundle every module of the process is
 * inlined into one file, so `import.meta.url` here is the bundle's own URL; from the sources it is
 * this `.ts` file's. A process never mixes the two: the children it starts run the same way.
 */
export const RUNNING_FROM_BUNDLE: boolean = !import.meta.url.endsWith('.ts');

/**
 * A process entry: from the sources the `.ts` file (relative to this module's folder, `src/`), from a
 * bundle the sibling bundle in `dist/runtime/` (relative to that folder).
 */
export function processEntry(source: string, bundle: string): string {
  return fileURLToPath(new URL(RUNNING_FROM_BUNDLE ? `./${bundle}` : `./${source}`, import.meta.url));
}

/**
 * Node flags that run `entry`: tsx's loader for a TypeScript file (resolved from this package, so the
 * child's working folder does not matter), nothing for JavaScript.
 */
export function nodeFlagsFor(entry: string): string[] {
  if (!entry.endsWith('.ts')) return [];
  return ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href];
}
