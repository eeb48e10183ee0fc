#!/usr/bin/env node
// The `claw` executable. It runs the bundle `npm run build` made (dist/runtime/claw.js: plain
// JavaScript, nothing compiled at run time) while that build is current, and the TypeScript sources
// through tsx otherwise (see current-build.js). The CLI then starts the orchestrator, and it the
// agents, from the same place, so one fleet never mixes a build with sources.
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { currentBuild } from './current-build.js';

const build = currentBuild(join(dirname(fileURLToPath(import.meta.url)), '../../..'), process.env);
if (build === undefined) {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/main.ts');
} else {
  await import(pathToFileURL(join(build, 'claw.js')).href);
}
