/**
 * `npm run bench -- observe [--quick] [--only sse,scrape,recording]`
 *
 * What watching the fleet costs, one section per concern (bench/observe/*.ts), each against a
 * baseline measured in the same run, against a real orchestrator in its own process:
 * - sse: row events to 50 SSE clients under a steady write rate vs. the bus's own notify path (IPC);
 * - scrape: GET /metrics with five agents busy vs. an idle orchestrator and an empty registry;
 * - recording: tokens/s of agent model calls recorded for replay vs. not (in this process, on the
 *   generated benchmark-shape model; the orchestrator the runner starts stays idle).
 * A section is one file exporting an `ObserveBenchSection`; add it to SECTIONS.
 */
import { metricsScrapeSection } from './observe/metrics-scrape.ts';
import { type RunningOrchestrator, startOrchestratorProcess } from './observe/orchestrator-process.ts';
import { recordingCostSection } from './observe/recording-cost.ts';
import type { ObserveBenchSection } from './observe/section.ts';
import { sseFanoutSection } from './observe/sse-fanout.ts';
import { loadAverage, sectionOptions } from './support/run-options.ts';
import { machineDescription } from './support/statistics.ts';

const SECTIONS: ObserveBenchSection[] = [sseFanoutSection, metricsScrapeSection, recordingCostSection];

export async function run(args: string[]): Promise<void> {
  const { quick, selected } = sectionOptions(args, SECTIONS);
  console.log(`# observe benchmark${quick ? ' (--quick)' : ''}`);
  console.log(`machine: ${await machineDescription()}`);
  console.log(`load average at start: ${loadAverage()}`);
  for (const section of SECTIONS) {
    if (!selected(section.name)) continue;
    console.log(`\n## ${section.name}: ${section.title}`);
    // A fresh orchestrator per section, so one section's rows and series do not weigh on the next.
    let orchestrator: RunningOrchestrator | undefined;
    try {
      orchestrator = await startOrchestratorProcess(section.environment ?? {});
      for (const line of await section.run({ quick, args, orchestrator })) console.log(line);
    } finally {
      await orchestrator?.stop();
    }
  }
  console.log(`\nload average at end: ${loadAverage()}`);
}
