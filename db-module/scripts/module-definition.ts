/**
 * Evaluates the module bundle in Node (syscalls stubbed) and returns the module definition SpacetimeDB
 * would receive on publish: a real check that every table, index, reducer and view registers.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { bundleModule } from './bundle.ts';

export interface RawModuleDefinition {
  sections: { tag: string; value: unknown }[];
}

interface ModuleNamespace {
  default: { buildRawModuleDefV10(exports: object): RawModuleDefinition };
}

export async function loadModuleDefinition(): Promise<RawModuleDefinition> {
  const text = await bundleModule({ stubSyscalls: true });
  const directory = await mkdtemp(join(tmpdir(), 'clawfleet-module-'));
  // The bundle's polyfills replace globals such as `console` with syscall-backed versions; put them back.
  const savedConsole = globalThis.console;
  try {
    const file = join(directory, 'module.mjs');
    await writeFile(file, text);
    const namespace = (await import(pathToFileURL(file).href)) as ModuleNamespace;
    return namespace.default.buildRawModuleDefV10(namespace);
  } finally {
    globalThis.console = savedConsole;
    await rm(directory, { recursive: true, force: true });
  }
}

export function section<T>(definition: RawModuleDefinition, tag: string): T {
  const found = definition.sections.find((entry) => entry.tag === tag);
  if (found === undefined) throw new Error(`The module definition has no ${tag} section`);
  return found.value as T;
}
