/**
 * `npm run bench -- replay [--quick] [--threads N]`: what recording every model call for replay
 * costs (docs/provenance.md), on the generated benchmark-shape model (embd 512, 8 layers), 1 thread.
 *
 * 1. Recording cost: the `recording` section of `npm run bench -- observe` (bench/observe/recording-cost.ts):
 *    tokens/s with the InferenceRecorder against without it, alternating call by call. Target >= 0.98x.
 * 2. Model file hash: sha256 of the model file (what each load computes, in parallel with the load)
 *    against loading the model, in the same run; MB/s, and what that means for a 4.7 GB GGUF.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashModelFile, type ModelSpec, WorkerBackend } from '@clawfleet/orchestrator';
import { silentLogger } from '@clawfleet/protocol';
import { ensureTinyModel } from '@clawfleet/tiny-model';
import { MODEL_SHAPE, measureRecordingCost, recordingCostLines } from './observe/recording-cost.ts';
import { loadAverage } from './support/run-options.ts';
import { format, machineDescription, percentile, table } from './support/statistics.ts';

async function measureModelHash(quick: boolean, threads: number): Promise<string[]> {
  const directory = mkdtempSync(join(tmpdir(), 'claw-bench-hash-'));
  try {
    const modelPath = await ensureTinyModel(join(directory, 'models'), MODEL_SHAPE);
    const bytes = statSync(modelPath).size;
    const repeats = quick ? 3 : 7;
    const hashMs: number[] = [];
    for (let index = 0; index < repeats; index++) {
      const started = performance.now();
      await hashModelFile(modelPath);
      hashMs.push(performance.now() - started);
    }
    // The baseline: loading the same file (which now hashes it meanwhile), through the worker.
    const backend = await WorkerBackend.start({ gpu: false, maxThreads: threads, logger: silentLogger });
    const loadMs: number[] = [];
    try {
      for (let index = 0; index < repeats; index++) {
        const spec: ModelSpec = { id: `load-${index}`, path: modelPath, contextSize: 512, slots: 1, gpuLayers: 0 };
        const started = performance.now();
        await backend.loadModel(spec);
        loadMs.push(performance.now() - started);
        await backend.unloadModel(spec.id);
      }
    } finally {
      await backend.dispose();
    }
    const hash = percentile(hashMs, 0.5);
    const megabytesPerSecond = bytes / 2 ** 20 / (hash / 1000);
    return [
      table(
        ['model file', 'sha256 p50 ms', 'MB/s', 'load p50 ms (hash included)', 'a 4.7 GB GGUF would hash in'],
        [
          [
            `${format(bytes / 2 ** 20, 1)} MiB`,
            format(hash, 1),
            format(megabytesPerSecond, 0),
            format(percentile(loadMs, 0.5), 1),
            `${format((4.7 * 1024) / megabytesPerSecond, 1)} s`,
          ],
        ],
      ),
    ];
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const threadsAt = args.indexOf('--threads');
  const threads = threadsAt === -1 ? 1 : Number(args[threadsAt + 1]);
  if (!Number.isInteger(threads) || threads < 1) throw new Error('--threads takes a positive integer');
  console.log(`bench replay on ${await machineDescription()}; load ${loadAverage()}`);
  console.log(`\n1. Recording every model call for replay (${threads} thread${threads === 1 ? '' : 's'})`);
  for (const line of recordingCostLines(await measureRecordingCost({ quick, threads }))) console.log(line);
  console.log('\n2. The model file hash each load computes');
  for (const line of await measureModelHash(quick, threads)) console.log(line);
}
