import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ClawError } from '@clawfleet/protocol';

/** A script the CLI starts as a child process: `node [nodeFlags] file`. */
export interface ProcessEntry {
  file: string;
  /** tsx's loader for a TypeScript file; nothing for a bundle. */
  nodeFlags: string[];
  /** Where the code comes from, for `claw up`'s summary. */
  code: 'bundle' | 'sources';
}

/**
 * Whether this CLI runs from the bundle `npm run build` makes (`dist/runtime/claw.js`, chosen by
 * bin/claw.js while the build is current) or from the sources: in the bundle this module is inlined
 * and `import.meta.url` is the bundle's URL. The orchestrator and the doctor check then run from the
 * same place as the CLI, their bundles sitting beside it.
 */
const RUNNING_FROM_BUNDLE = !import.meta.url.endsWith('.ts');

/**
 * The orchestrator's process entry, found on disk without importing the package: the CLI starts it
 * as a child and never loads its code. `CLAW_ORCHESTRATOR_ENTRY` overrides it.
 */
export function resolveOrchestratorEntry(environment: NodeJS.ProcessEnv): ProcessEntry {
  const override = environment.CLAW_ORCHESTRATOR_ENTRY;
  if (override) {
    if (!existsSync(override)) {
      throw new ClawError('CONFIG_INVALID', `CLAW_ORCHESTRATOR_ENTRY points at ${override}, which does not exist`);
    }
    return entryFor(resolve(override));
  }
  return resolveOrchestratorFile('main.ts', 'orchestrator.js');
}

/** `claw doctor`'s check script, which sees models and GPU as the orchestrator does. */
export function resolveDoctorCheck(): ProcessEntry {
  return resolveOrchestratorFile('admin-service/doctor-check.ts', 'doctor-check.js');
}

function entryFor(file: string): ProcessEntry {
  if (!file.endsWith('.ts')) return { file, nodeFlags: [], code: 'bundle' };
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return { file, nodeFlags: ['--import', tsx], code: 'sources' };
}

function resolveOrchestratorFile(source: string, bundle: string): ProcessEntry {
  if (RUNNING_FROM_BUNDLE) {
    const file = fileURLToPath(new URL(`./${bundle}`, import.meta.url));
    if (!existsSync(file)) {
      throw new ClawError(
        'CONFIG_INVALID',
        `The build in ${dirname(file)} has no ${bundle}: run \`npm run build\` again (or CLAW_FROM_SOURCE=1 to run the sources)`,
      );
    }
    return entryFor(file);
  }
  const candidates: string[] = [];
  try {
    // The package's "." export is src/index.ts; main.ts sits beside it.
    candidates.push(join(dirname(createRequire(import.meta.url).resolve('@clawfleet/orchestrator')), source));
  } catch {
    // Not resolvable from here (a CLI installed on its own): fall back to the workspace layout.
  }
  candidates.push(resolve(import.meta.dirname, '../../../orchestrator/src', source));
  const found = candidates.find((candidate) => existsSync(candidate));
  if (!found) {
    throw new ClawError(
      'CONFIG_INVALID',
      `Cannot find the orchestrator (packages/orchestrator/src/${source}): run claw from a Clawfleet checkout after \`npm install\`${source === 'main.ts' ? ', or set CLAW_ORCHESTRATOR_ENTRY' : ''}`,
    );
  }
  return entryFor(found);
}
