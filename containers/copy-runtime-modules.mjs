#!/usr/bin/env node
// Copies the named packages and everything they need at run time (dependencies and installed
// optional dependencies, resolved as Node resolves them) from one node_modules tree into another
// folder, keeping their paths. The agent image's bundle (dist/runtime/agent.js) inlines every
// JavaScript dependency but the few native or worker-thread ones `npm run build` leaves external;
// this gives the image those and nothing else, instead of the whole production tree.
//
//   node containers/copy-runtime-modules.mjs <from-root> <to-root> <package>...
//
// Plain JavaScript: it runs in an image build stage before anything can compile TypeScript.
import { cpSync, existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const [fromRoot, toRoot, ...names] = process.argv.slice(2);
if (fromRoot === undefined || toRoot === undefined || names.length === 0) {
  process.stderr.write('usage: copy-runtime-modules.mjs <from-root> <to-root> <package>...\n');
  process.exit(64);
}
const from = resolve(fromRoot);
const to = resolve(toRoot);

/** The folder of `name` as seen from `directory`: its node_modules, then each parent's. */
function locate(name, directory) {
  for (let current = directory; ; current = dirname(current)) {
    const candidate = join(current, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (current === from || dirname(current) === current) return undefined;
  }
}

const copied = new Set();
const queue = names.map((name) => ({ name, directory: from, optional: false, wantedBy: '(requested)' }));
while (queue.length > 0) {
  const { name, directory, optional, wantedBy } = queue.shift();
  const folder = locate(name, directory);
  if (folder === undefined) {
    if (optional) continue;
    process.stderr.write(`copy-runtime-modules: ${name} (needed by ${wantedBy}) is not installed under ${from}\n`);
    process.exit(1);
  }
  if (copied.has(folder)) continue;
  copied.add(folder);
  // A package's own node_modules holds versions resolved for it: reached through its dependencies.
  cpSync(folder, join(to, relative(from, folder)), {
    recursive: true,
    dereference: false,
    filter: (source) => relative(folder, source).split(/[\\/]/)[0] !== 'node_modules',
  });
  const manifest = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8'));
  for (const dependency of Object.keys(manifest.dependencies ?? {})) {
    queue.push({ name: dependency, directory: folder, optional: false, wantedBy: manifest.name });
  }
  for (const dependency of Object.keys(manifest.optionalDependencies ?? {})) {
    queue.push({ name: dependency, directory: folder, optional: true, wantedBy: manifest.name });
  }
}
process.stdout.write(`copy-runtime-modules: ${copied.size} packages for ${names.join(', ')}\n`);
