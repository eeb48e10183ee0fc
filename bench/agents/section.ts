/**
 * One part of `npm run bench -- agents`. Each section measures its subject and a baseline in the same
 * run and returns the lines it prints. Sections live beside this file, one per file, and are listed
 * in bench/agents.ts.
 */
export interface AgentBenchSection {
  /** Selects it with `--only <name>[,<name>]`. */
  readonly name: string;
  /** One line: what is measured against what. */
  readonly title: string;
  run(options: AgentBenchOptions): Promise<string[]>;
}

export interface AgentBenchOptions {
  /** Fewer iterations, for checking that the benchmark works. */
  quick: boolean;
  args: readonly string[];
}
