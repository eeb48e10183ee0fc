/**
 * Stimulus written → triage started, with the five agents idle. Each agent is an `AgentLoop` with
 * its own bus connection (all in this process, beside the embedded bus host), woken by its
 * subscription; stimuli are targeted at the agents in turn, one at a time. Baseline, same run: the
 * same write seen by a bare subscriber's `onInsert` (the bus's own notification latency), so the
 * ratio is what the loop adds on top (queue derivation, cycle bookkeeping up to triage).
 */
import { performance } from 'node:perf_hooks';
import { AgentLoop } from '@clawfleet/agent-runtime';
import { silentLogger } from '@clawfleet/protocol';
import { format, percentile, table } from '../support/statistics.ts';
import { benchAgent, benchTools, FLEET, hostBus, InstantInference } from './loop-support.ts';
import type { AgentBenchSection } from './section.ts';

const TARGET_P99_MS = 50;

export const loopWakeSection: AgentBenchSection = {
  name: 'wake',
  title: 'stimulus written -> triage started, five agents idle, against a bare subscriber seeing the same write',
  async run({ quick }) {
    const rounds = quick ? 100 : 500;
    const bus = await hostBus();
    const loops: AgentLoop[] = [];
    let pending: { target: string; resolve: (at: number) => void } | undefined;
    try {
      for (const name of FLEET) {
        const client = await bus.connect(name);
        const definition = benchAgent(name);
        const loop = new AgentLoop({
          agent: definition,
          bus: client,
          inference: new InstantInference('ignore'),
          memory: { retrieve: async () => [] },
          toolbox: benchTools.forAgent(name, definition.tools),
          toolContext: () => {
            throw new Error('no tools in this section');
          },
          logger: silentLogger,
          onTriageStart: () => {
            if (pending?.target === name) pending.resolve(performance.now());
          },
        });
        await loop.start();
        loops.push(loop);
      }
      const watcher = await bus.connect('LeadClaw');
      let baselinePending: ((at: number) => void) | undefined;
      const subscription = watcher.subscribe('SELECT * FROM stimulus', {
        onInsert: () => baselinePending?.(performance.now()),
      });
      await subscription.ready;

      const measure = async (loopRound: boolean, index: number) => {
        const target = FLEET[index % FLEET.length]!;
        const seen = new Promise<number>((resolve) => {
          if (loopRound) pending = { target, resolve };
          else baselinePending = resolve;
        });
        const started = performance.now();
        await bus.admin.callReducer('create_stimulus', {
          source: 'bench',
          kind: 'bench',
          text: `wake ${index}`,
          priority: 5,
          target_agent: target,
        });
        const at = await seen;
        pending = undefined;
        baselinePending = undefined;
        // Let the triaged cycle finish (ignore) so every agent is idle again before the next stimulus.
        await new Promise((resolve) => setTimeout(resolve, 5));
        return at - started;
      };
      const loopSamples: number[] = [];
      const baseline: number[] = [];
      for (let index = 0; index < rounds; index += 1) {
        // Interleaved, so both see the same machine conditions.
        loopSamples.push(await measure(true, index));
        baseline.push(await measure(false, index));
      }
      await subscription.dispose();
      const p = (values: number[], fraction: number) => format(percentile(values, fraction), 2);
      return [
        table(
          ['path', 'p50 ms', 'p99 ms', 'max ms'],
          [
            ['stimulus -> triage started (loop)', p(loopSamples, 0.5), p(loopSamples, 0.99), p(loopSamples, 1)],
            ['stimulus -> onInsert (bare subscriber)', p(baseline, 0.5), p(baseline, 0.99), p(baseline, 1)],
          ],
        ),
        `rounds: ${rounds}; ratio p50 loop/bare: ${format(percentile(loopSamples, 0.5) / percentile(baseline, 0.5), 2)}x`,
        `target p99 < ${TARGET_P99_MS} ms: ${percentile(loopSamples, 0.99) < TARGET_P99_MS ? 'met' : 'missed'}`,
      ];
    } finally {
      for (const loop of loops) await loop.stop();
      await bus.dispose();
    }
  },
};
