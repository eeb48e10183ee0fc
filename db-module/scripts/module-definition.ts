/**
 * The module definition SpacetimeDB would receive on publish, obtained the way its JS host obtains it:
 * the bundle evaluated in a bare V8 context with stubbed syscalls, its hooks called, the BSATN decoded
 * (module-host.ts, run in a child process because `vm.SourceTextModule` needs
 * `--experimental-vm-modules`). A real check that every table, index, reducer and view registers, and
 * that module code uses nothing but what SpacetimeDB's host provides.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { bundleModule } from './bundle.ts';
import { fromTransferJson, type RawModuleDefinition } from './module-host.ts';

export type { RawModuleDefinition };

const hostScript = fileURLToPath(new URL('./module-host.ts', import.meta.url));
const moduleRoot = fileURLToPath(new URL('..', import.meta.url));

/** Runs `bundle` (the db:build output by default) in the module host; rejects with the host's complaint. */
export async function describeBundle(bundle: string): Promise<RawModuleDefinition> {
  const child = spawn(process.execPath, ['--experimental-vm-modules', '--no-warnings', '--import', 'tsx', hostScript], {
    cwd: moduleRoot,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  child.stdin.end(bundle);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 0) {
    throw new Error(
      `The module does not load as SpacetimeDB loads it: ${Buffer.concat(stderr).toString('utf8').trim()}`,
    );
  }
  return fromTransferJson(Buffer.concat(stdout).toString('utf8')) as RawModuleDefinition;
}

export async function loadModuleDefinition(): Promise<RawModuleDefinition> {
  return describeBundle(await bundleModule());
}

export function section<T>(definition: RawModuleDefinition, tag: string): T {
  const found = definition.sections.find((entry) => entry.tag === tag);
  if (found === undefined) throw new Error(`The module definition has no ${tag} section`);
  return found.value as T;
}
