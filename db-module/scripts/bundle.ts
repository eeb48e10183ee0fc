/**
 * Bundles src/spacetime-module.ts into one ES module for SpacetimeDB. esbuild lowers the `using`
 * declarations of `spacetimedb/server` (Node 20 cannot parse them) and keeps `spacetime:sys@*`, which
 * the SpacetimeDB host provides, external (module-host.ts stubs them when it loads the bundle).
 */
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

const moduleRoot = fileURLToPath(new URL('..', import.meta.url));
const entryPoint = fileURLToPath(new URL('../src/spacetime-module.ts', import.meta.url));
const shimPath = fileURLToPath(new URL('./spacetimedb-shim.ts', import.meta.url));

export interface BundleOptions {
  /** Minify the output. @default false */
  minify?: boolean;
}

const redirectRootEntry: Plugin = {
  name: 'clawfleet-spacetimedb-root',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /^spacetimedb$/ }, (args) =>
      args.importer === shimPath ? undefined : { path: shimPath },
    );
  },
};

/** Returns the bundle's JavaScript text. */
export async function bundleModule(options: BundleOptions = {}): Promise<string> {
  const result = await build({
    entryPoints: [entryPoint],
    absWorkingDir: moduleRoot,
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    conditions: ['import', 'default'],
    target: 'node20',
    minify: options.minify ?? false,
    logLevel: 'silent',
    external: ['spacetime:sys*'],
    plugins: [redirectRootEntry],
  });
  const output = result.outputFiles[0];
  if (output === undefined) throw new Error('esbuild produced no output for the module bundle');
  return output.text;
}
