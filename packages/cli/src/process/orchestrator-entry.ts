import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { ClawError } from '@clawfleet/protocol';

/**
 * The orchestrator's process entry (`main.ts`), found on disk without importing the package: the
 * CLI starts it as a child and never loads its code. `CLAW_ORCHESTRATOR_ENTRY` overrides it.
 */
export function resolveOrchestratorEntry(environment: NodeJS.ProcessEnv): string {
  const override = environment.CLAW_ORCHESTRATOR_ENTRY;
  if (override) {
    if (!existsSync(override)) {
      throw new ClawError('CONFIG_INVALID', `CLAW_ORCHESTRATOR_ENTRY points at ${override}, which does not exist`);
    }
    return resolve(override);
  }
  const candidates: string[] = [];
  try {
    // The package's "." export is src/index.ts; main.ts sits beside it.
    candidates.push(join(dirname(createRequire(import.meta.url).resolve('@clawfleet/orchestrator')), 'main.ts'));
  } catch {
    // Not resolvable from here (a CLI installed on its own): fall back to the workspace layout.
  }
  candidates.push(resolve(import.meta.dirname, '../../../orchestrator/src/main.ts'));
  const found = candidates.find((candidate) => existsSync(candidate));
  if (!found) {
    throw new ClawError(
      'CONFIG_INVALID',
      'Cannot find the orchestrator (packages/orchestrator/src/main.ts): run claw from a Clawfleet checkout after `npm install`, or set CLAW_ORCHESTRATOR_ENTRY',
    );
  }
  return found;
}
