/**
 * Bundles src/spacetime-module.ts into one ES module for SpacetimeDB. esbuild lowers the `using`
 * declarations of `spacetimedb/server` (Node 20 cannot parse them) and keeps `spacetime:sys@*`, which
 * the SpacetimeDB host provides, external unless a stub is asked for (module-definition checks in Node).
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

const moduleRoot = fileURLToPath(new URL('..', import.meta.url));
const entryPoint = fileURLToPath(new URL('../src/spacetime-module.ts', import.meta.url));
const shimPath = fileURLToPath(new URL('./spacetimedb-shim.ts', import.meta.url));

export interface BundleOptions {
  /** Replace `spacetime:sys@*` with an empty stub so the bundle can be evaluated in Node. @default false */
  stubSyscalls?: boolean;
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

const stubSyscalls: Plugin = {
  name: 'clawfleet-syscall-stub',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /^spacetime:sys@/ }, (args) => ({ path: args.path, namespace: 'syscall-stub' }));
    pluginBuild.onLoad({ filter: /.*/, namespace: 'syscall-stub' }, async () => {
      // Every syscall the server entry names becomes a function that fails loudly if it is ever called:
      // registration (buildRawModuleDefV10) needs none of them, only their presence.
      const serverEntry = await pluginBuild.resolve('spacetimedb/server', {
        kind: 'import-statement',
        resolveDir: moduleRoot,
      });
      const source = await readFile(serverEntry.path, 'utf8');
      const names = [...new Set([...source.matchAll(/\bsys\.([A-Za-z_][A-Za-z0-9_]*)/g)].map((match) => match[1]))];
      const stubs = names.map(
        (name) =>
          `export function ${name}() { throw new Error('spacetime:sys ${name} is not available outside SpacetimeDB'); }`,
      );
      return {
        contents: ["export const moduleHooks = Symbol.for('spacetime:moduleHooks');", ...stubs].join('\n'),
        loader: 'js',
      };
    });
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
    external: options.stubSyscalls === true ? [] : ['spacetime:sys*'],
    plugins: options.stubSyscalls === true ? [redirectRootEntry, stubSyscalls] : [redirectRootEntry],
  });
  const output = result.outputFiles[0];
  if (output === undefined) throw new Error('esbuild produced no output for the module bundle');
  return output.text;
}
