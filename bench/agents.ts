/**
 * `npm run bench -- agents [--quick] [--only retrieval,restart,cycle,wake,rss]`
 *
 * The agents' benchmarks, one section per concern (bench/agents/*.ts), each against a baseline
 * measured in the same run:
 * - retrieval: hybrid memory retrieval p50/p99 at 10k and 100k entries against a brute-force scan;
 * - cycle: one cycle on the tiny model broken into queue wait, triage, act, reflect and bus time;
 * - wake: stimulus written -> triage started with five agents idle;
 * - rss: agent process RSS at rest and after 1,000 cycles;
 * - restart: memory ready after a restart with the embedding cache, against embedding everything again.
 */
import { loopCycleSection } from './agents/loop-cycle.ts';
import { loopRssSection } from './agents/loop-rss.ts';
import { loopWakeSection } from './agents/loop-wake.ts';
import { memoryRestartSection } from './agents/memory-restart.ts';
import { retrievalSection } from './agents/retrieval.ts';
import type { AgentBenchSection } from './agents/section.ts';
import { loadAverage, sectionOptions } from './support/run-options.ts';
import { machineDescription } from './support/statistics.ts';

const SECTIONS: AgentBenchSection[] = [
  retrievalSection,
  memoryRestartSection,
  loopCycleSection,
  loopWakeSection,
  loopRssSection,
];

export async function run(args: string[]): Promise<void> {
  const { quick, selected } = sectionOptions(args, SECTIONS);
  console.log(`# agents benchmark${quick ? ' (--quick)' : ''}`);
  console.log(`machine: ${await machineDescription()}`);
  console.log(`load average at start: ${loadAverage()}`);
  for (const section of SECTIONS) {
    if (!selected(section.name)) continue;
    console.log(`\n## ${section.name}: ${section.title}`);
    for (const line of await section.run({ quick, args })) console.log(line);
  }
  console.log(`\nload average at end: ${loadAverage()}`);
}
