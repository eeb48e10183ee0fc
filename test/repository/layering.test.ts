import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The dependency direction of the workspace (docs/architecture.md). tsc's project references
 * already fail the build on an import of a package that is not referenced; this test pins down
 * which references are allowed at all, so that nobody "fixes" a wrong-way import by adding a
 * reference.
 */
const ALLOWED: Record<string, string[]> = {
  protocol: [],
  ipc: ['protocol'],
  'db-module': ['protocol'],
  'tiny-model': ['protocol'],
  'embedded-bus': ['protocol', 'ipc', 'db-module'],
  'bus-client': ['protocol', 'ipc', 'db-module'],
  'inference-client': ['protocol', 'ipc'],
  memory: ['protocol', 'db-module', 'bus-client', 'inference-client'],
  'agent-tools': ['protocol', 'bus-client'],
  'agent-connection': ['protocol', 'ipc', 'bus-client', 'inference-client'],
  agents: ['protocol'],
  'agent-runtime': [
    'protocol',
    'ipc',
    'db-module',
    'bus-client',
    'inference-client',
    'agent-connection',
    'agents',
    'memory',
    'agent-tools',
  ],
  orchestrator: [
    'protocol',
    'ipc',
    'db-module',
    'embedded-bus',
    'bus-client',
    'tiny-model',
    'inference-client',
    'agents',
    // The HTTP server serves the dashboard's static files from the directory it exports.
    'dashboard',
    'fleet-views',
    'http-api',
  ],
  // What a person sees of the fleet, over a port both the CLI's socket connection and the HTTP API satisfy.
  'fleet-views': ['protocol', 'db-module', 'memory'],
  // The HTTP API takes the fleet through ports (the orchestrator wires them): it never imports the orchestrator.
  'http-api': ['protocol', 'fleet-views'],
  // The CLI talks to the orchestrator over the socket only: it never imports the orchestrator package.
  cli: ['protocol', 'ipc', 'bus-client', 'inference-client', 'memory', 'fleet-views'],
  // Static files and the path to them: the browser code talks to the HTTP API only.
  dashboard: [],
};
/**
 * Imports allowed in test code only (`*.test.ts`, and `src/testing/`, which holds test doubles that
 * no production file may import): a client's tests may start the real server it talks to, or a
 * double built on it. Such a package is referenced in tsconfig (tsc checks tests too) but not a
 * runtime dependency.
 */
const TESTS_MAY_ALSO_USE: Record<string, string[]> = {
  'bus-client': ['embedded-bus'],
  memory: ['embedded-bus', 'ipc'],
  'agent-connection': ['embedded-bus'],
  'agent-runtime': ['embedded-bus'],
  'agent-tools': ['embedded-bus', 'ipc'],
};
/** Third-party packages only one package may import: the orchestrator owns the GPU and the engine. */
const EXCLUSIVE: Record<string, string> = { 'node-llama-cpp': 'orchestrator', dockerode: 'orchestrator' };

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const workspaces = [
  ...readdirSync(join(root, 'packages')).map((name) => ({ name, directory: join(root, 'packages', name) })),
  { name: 'db-module', directory: join(root, 'db-module') },
];

function sourceFiles(directory: string): string[] {
  return readdirSync(directory).flatMap((entry) => {
    const path = join(directory, entry);
    if (statSync(path).isDirectory()) return entry === 'node_modules' || entry === 'dist' ? [] : sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

function importedPackages(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const names = new Set<string>();
  for (const match of text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"]([^'".][^'"]*)['"]/g)) {
    const specifier = match[1]!;
    const parts = specifier.split('/');
    names.add(specifier.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!);
  }
  return [...names];
}

describe('workspace layering', () => {
  it('knows every workspace', () => {
    expect(workspaces.map((workspace) => workspace.name).sort()).toEqual(Object.keys(ALLOWED).sort());
  });

  for (const workspace of workspaces) {
    it(`${workspace.name} imports, depends on and references only what it may`, () => {
      const allowed = ALLOWED[workspace.name] ?? [];
      const testOnly = TESTS_MAY_ALSO_USE[workspace.name] ?? [];
      const manifest = JSON.parse(readFileSync(join(workspace.directory, 'package.json'), 'utf8')) as {
        dependencies?: Record<string, string>;
      };
      const tsconfig = ts.readConfigFile(join(workspace.directory, 'tsconfig.json'), ts.sys.readFile).config as {
        references?: { path: string }[];
      };
      const referenced = (tsconfig.references ?? []).map((reference) =>
        relative(root, resolve(workspace.directory, reference.path)).replace(/^packages\//, ''),
      );
      const declared = Object.keys(manifest.dependencies ?? {})
        .filter((name) => name.startsWith('@clawfleet/'))
        .map((name) => name.slice('@clawfleet/'.length));
      const imported = new Set<string>();
      const violations: string[] = [];
      for (const file of sourceFiles(join(workspace.directory, 'src'))) {
        const isTest = /\.test\.ts$/.test(file) || file.includes(`${join('src', 'testing')}/`);
        if (!isTest && /from\s+['"][./]+(?:[^'"]*\/)?testing\//.test(readFileSync(file, 'utf8'))) {
          violations.push(`${relative(root, file)} (production code) imports a testing module`);
        }
        for (const name of importedPackages(file)) {
          const local = name.startsWith('@clawfleet/') ? name.slice('@clawfleet/'.length) : undefined;
          if (local && isTest && testOnly.includes(local)) continue;
          if (local) imported.add(local);
          const owner = EXCLUSIVE[name];
          if (owner && owner !== workspace.name) violations.push(`${relative(root, file)} imports ${name}`);
        }
      }
      for (const name of imported) {
        if (name === workspace.name) violations.push(`imports itself as @clawfleet/${name}`);
        else if (!allowed.includes(name))
          violations.push(`imports @clawfleet/${name} against the dependency direction`);
        else if (!declared.includes(name))
          violations.push(`imports @clawfleet/${name} without declaring it in package.json`);
        else if (!referenced.includes(name)) violations.push(`imports @clawfleet/${name} without a tsconfig reference`);
      }
      for (const name of declared) {
        if (!allowed.includes(name)) violations.push(`depends on @clawfleet/${name} against the dependency direction`);
      }
      for (const name of referenced) {
        if (!allowed.includes(name) && !testOnly.includes(name))
          violations.push(`declares or references @clawfleet/${name} against the dependency direction`);
      }
      expect(violations).toEqual([]);
    });
  }
});
