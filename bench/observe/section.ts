import type { RunningOrchestrator } from './orchestrator-process.ts';

/**
 * One part of `npm run bench -- observe`. Each section measures its subject and a baseline in the
 * same run against one orchestrator process the runner starts, and returns the lines it prints.
 * Sections live beside this file, one per file, and are listed in bench/observe.ts.
 */
export interface ObserveBenchSection {
  /** Selects it with `--only <name>[,<name>]`. */
  readonly name: string;
  /** One line: what is measured against what. */
  readonly title: string;
  /**
   * Settings the section needs in the orchestrator it runs against (environment variables). Sections
   * with different needs get an orchestrator each.
   * @default {}
   */
  readonly environment?: Readonly<Record<string, string>>;
  run(options: ObserveBenchOptions): Promise<string[]>;
}

export interface ObserveBenchOptions {
  /** Fewer iterations, for checking that the benchmark works. */
  quick: boolean;
  args: readonly string[];
  orchestrator: RunningOrchestrator;
}
