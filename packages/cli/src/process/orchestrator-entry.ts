import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { ClawError } from '@clawfleet/protocol';

/**
 * The orchestrator's process entry (`main.ts`), found on disk without importing the package: the
 * CLI starts it as a child and never loads its code. `CLAW_ORCHESTRATOR_ENTRY` overrides it.
 */
export function resolveOrchestratorEntry(environment: NodeJS.ProcessEnv): string {
  return resolveOrchestratorFile(environment, 'main.ts');
}

/** `claw doctor`'s check script, which sees models and GPU as the orchestrator does. */
export function resolveDoctorCheck(environment: NodeJS.ProcessEnv): string {
  return resolveOrchestratorFile(environment, 'admin-service/doctor-check.ts');
}

function resolveOrchestratorFile(environment: NodeJS.ProcessEnv, file: string): string {
  const override = environment.CLAW_ORCHESTRATOR_ENTRY;
  if (override && file === 'main.ts') {
    if (!existsSync(override)) {
      throw new ClawError('CONFIG_INVALID', `CLAW_ORCHESTRATOR_ENTRY points at ${override}, which does not exist`);
    }
    return resolve(override);
  }
  const candidates: string[] = [];
  try {
    // The package's "." export is src/index.ts; main.ts sits beside it.
    candidates.push(join(dirname(createRequire(import.meta.url).resolve('@clawfleet/orchestrator')), file));
  } catch {
    // Not resolvable from here (a CLI installed on its own): fall back to the workspace layout.
  }
  candidates.push(resolve(import.meta.dirname, '../../../orchestrator/src', file));
  const found = candidates.find((candidate) => existsSync(candidate));
  if (!found) {
    throw new ClawError(
      'CONFIG_INVALID',
      `Cannot find the orchestrator (packages/orchestrator/src/${file}): run claw from a Clawfleet checkout after \`npm install\`${file === 'main.ts' ? ', or set CLAW_ORCHESTRATOR_ENTRY' : ''}`,
    );
  }
  return found;
}
