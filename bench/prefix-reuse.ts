/**
 * `npm run bench -- prefix-reuse [--quick]`
 *
 * What keeping an agent's prompt prefix (identity + memory prelude) in its slot saves. Subject: the
 * same prefix on the same slot with a new prompt each time (only the prompt tail is evaluated).
 * Baseline, same run, same model: two agents alternating on one slot, so every request diverges
 * right after BOS and the whole prefix is evaluated again. Also reports the worker's start-up and
 * the model load, both one-off costs. Model: generated tiny llama, embd 512, 8 blocks (the
 * benchmark shape; `--quick` uses embd 256, 4 blocks).
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type GenerateResult, WorkerBackend } from '@clawfleet/orchestrator';
import { ensureTinyModel } from '@clawfleet/tiny-model';
import { format, machineDescription, percentile, table } from './support/statistics.ts';

const MEMORY_LINES = [
  'The release train leaves on Friday; DevClaw owns the build and UXClaw reviews the new settings page.',
  'OpsClaw saw the disk on the runner reach 91% twice this week and asked for a cleanup job.',
  'ScribeClaw compacted yesterday: three reflections about flaky integration tests, one about docs.',
  'LeadClaw decided to defer the database migration until the test suite is green for two days.',
];

function prelude(agent: string, repeat: number): string {
  const memory = Array.from({ length: repeat }, (_, index) => MEMORY_LINES[index % MEMORY_LINES.length]).join(' ');
  return `IDENTITY: You are ${agent}, one of five agents. SOUL: precise, calm, brief. TOOLS: bus, memory, shell. MEMORY: ${memory} `;
}

export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const dims = quick
    ? { embeddingLength: 256, blockCount: 4, headCount: 8, headCountKv: 4, feedForwardLength: 688 }
    : { embeddingLength: 512, blockCount: 8, headCount: 8, headCountKv: 4, feedForwardLength: 1376 };
  const iterations = quick ? 6 : 12;
  const path = await ensureTinyModel(join(tmpdir(), 'clawfleet-bench-models'), dims);

  let startupMs = 0;
  const startedAt = performance.now();
  const backend = await WorkerBackend.start({
    gpu: false,
    onWorkerReady: (info) => {
      startupMs = info.startupMs;
    },
  });
  const spawnToReadyMs = performance.now() - startedAt;
  try {
    const loadStarted = performance.now();
    await backend.loadModel({ id: 'bench', path, contextSize: 2048, slots: 2, gpuLayers: 0 });
    const loadMs = performance.now() - loadStarted;

    const sampling = { maxTokens: 8 };
    const prefixes = [prelude('DevClaw', 12), prelude('OpsClaw', 12)];
    // Warm both paths once so first-call costs (grammar-free sampler set-up, page faults) are out.
    await backend.generate({ modelId: 'bench', slot: 0, prefix: prefixes[0], prompt: 'warm-up', sampling });
    await backend.generate({ modelId: 'bench', slot: 1, prefix: prefixes[0], prompt: 'warm-up', sampling });

    const cold: GenerateResult[] = [];
    const warm: GenerateResult[] = [];
    for (let index = 0; index < iterations; index += 1) {
      const prompt = `Stimulus ${index}: the nightly build failed; decide what to do.`;
      // Baseline: alternate agents on slot 0, so the kept state never matches past BOS.
      cold.push(
        await backend.generate({ modelId: 'bench', slot: 0, prefix: prefixes[(index + 1) % 2], prompt, sampling }),
      );
      // Subject: one agent keeps slot 1.
      warm.push(await backend.generate({ modelId: 'bench', slot: 1, prefix: prefixes[0], prompt, sampling }));
    }

    const median = (results: GenerateResult[], pick: (result: GenerateResult) => number): number =>
      percentile(results.map(pick), 0.5);
    const coldMs = median(cold, (result) => result.generateMs);
    const warmMs = median(warm, (result) => result.generateMs);
    const evaluated = (result: GenerateResult): number => result.tokensIn - result.tokensReused;

    console.log(`prefix-reuse on ${await machineDescription()}`);
    console.log(
      `model: embd ${dims.embeddingLength}, ${dims.blockCount} blocks, ff ${dims.feedForwardLength}, CPU, ${iterations} requests per row, ${sampling.maxTokens} tokens generated each\n`,
    );
    console.log(
      table(
        ['case', 'prompt tokens', 'reused', 'evaluated', 'median ms', 'p90 ms', 'vs baseline'],
        [
          [
            'baseline: prefix evaluated again',
            median(cold, (result) => result.tokensIn),
            median(cold, (result) => result.tokensReused),
            median(cold, evaluated),
            format(coldMs),
            format(
              percentile(
                cold.map((result) => result.generateMs),
                0.9,
              ),
            ),
            '1.00x',
          ],
          [
            'kept prefix (same agent, same slot)',
            median(warm, (result) => result.tokensIn),
            median(warm, (result) => result.tokensReused),
            median(warm, evaluated),
            format(warmMs),
            format(
              percentile(
                warm.map((result) => result.generateMs),
                0.9,
              ),
            ),
            `${format(coldMs / warmMs, 2)}x faster`,
          ],
        ],
      ),
    );
    console.log(
      `\none-off costs: worker start-up ${format(startupMs)} ms inside the child (${format(spawnToReadyMs)} ms from spawn to ready, tsx included); model load ${format(loadMs)} ms`,
    );
  } finally {
    await backend.dispose();
  }
}
