/**
 * `npm run build` (and `npm install`, through `prepare`): bundles each process entry into one plain
 * JavaScript file under `dist/runtime/`, so the orchestrator, its inference worker, the agents and
 * `claw` run on Node without tsx compiling TypeScript at run time (open-questions.md Q-001,
 * docs/operating.md "How the code runs").
 *
 * Native modules (better-sqlite3, hnswlib-node, node-llama-cpp, dockerode) stay external and load from
 * node_modules. So does pino with its transports: pino-pretty runs in a worker thread that
 * thread-stream starts from a file path inside pino's own folder, which a bundle would not have.
 *
 * Beside the bundles, `manifest.json` lists every workspace source file they were built from;
 * `packages/cli/bin/claw.js` runs the bundles only while none of those files is newer than the build,
 * and the sources through tsx otherwise, so an edit is never hidden behind an old build.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const RUNTIME_DIRECTORY = join(root, 'dist/runtime');

/** Output file (without `.js`) → its source entry. Locations the code computes from these names: see each entry. */
const ENTRIES: Record<string, string> = {
  // `claw`: packages/cli/bin/claw.js imports it; the CLI finds orchestrator.js and doctor-check.js beside it.
  claw: 'packages/cli/src/main.ts',
  // The orchestrator: finds inference-worker.js and agent.js beside it, the agents' folders in packages/agents.
  orchestrator: 'packages/orchestrator/src/main.ts',
  'inference-worker': 'packages/orchestrator/src/inference/worker/worker-main.ts',
  'doctor-check': 'packages/orchestrator/src/admin-service/doctor-check.ts',
  agent: 'packages/agent-runtime/src/agent-main.ts',
};

/**
 * Loaded from node_modules at run time, never bundled (see the file comment). dockerode too: its
 * SSH transport (ssh2, cpu-features) loads native `.node` files by relative path. A new dependency
 * with native code belongs here; esbuild refuses to bundle a `.node` file, so `npm run build` says so.
 */
const EXTERNAL = [
  'better-sqlite3',
  'dockerode',
  'hnswlib-node',
  'node-llama-cpp',
  'pino',
  'pino-pretty',
  'thread-stream',
];

export interface BuildManifest {
  /** When the build started (ms since the epoch): a source modified later makes the build stale. */
  builtAt: number;
  /** Repository-relative paths of the workspace files the bundles were built from. */
  inputs: string[];
  /** Bundle file names in this folder. */
  outputs: string[];
}

/**
 * Builds every bundle into `directory` (emptied first). Its code finds the agents' folders at
 * `<directory>/../../packages/agents` and its native modules in node_modules above it, so another
 * directory must also sit two levels below the repository root (tests build into `dist/<name>`).
 * @default directory RUNTIME_DIRECTORY
 */
export async function buildRuntime(directory: string = RUNTIME_DIRECTORY): Promise<BuildManifest> {
  const builtAt = Date.now();
  rmSync(directory, { recursive: true, force: true });
  mkdirSync(directory, { recursive: true });
  const result = await build({
    absWorkingDir: root,
    entryPoints: Object.fromEntries(Object.entries(ENTRIES).map(([name, source]) => [name, join(root, source)])),
    outdir: directory,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: EXTERNAL,
    // CommonJS dependencies inside an ES module bundle still call require() for Node's own modules.
    banner: {
      js: "import { createRequire as __clawCreateRequire } from 'node:module';\nconst require = __clawCreateRequire(import.meta.url);",
    },
    // Stack traces of the bundle point at the TypeScript sources (node --enable-source-maps).
    sourcemap: 'linked',
    metafile: true,
    logLevel: 'warning',
  });
  const inputs = Object.keys(result.metafile.inputs)
    .map((input) => relative(root, resolve(root, input)))
    .filter((input) => !input.split(/[\\/]/).includes('node_modules'))
    .sort();
  const manifest: BuildManifest = {
    builtAt,
    inputs,
    outputs: Object.keys(ENTRIES).map((name) => `${name}.js`),
  };
  writeFileSync(join(directory, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = performance.now();
  const manifest = await buildRuntime();
  process.stdout.write(
    `built ${manifest.outputs.join(', ')} in ${relative(process.cwd(), RUNTIME_DIRECTORY) || '.'} from ${manifest.inputs.length} source files (${Math.round(performance.now() - started)} ms)\n`,
  );
}
