/**
 * `npm run bench -- replay [--quick] [--threads N]`: what recording every model call for replay
 * costs (docs/provenance.md), on the generated benchmark-shape model (embd 512, 8 layers), 1 thread.
 *
 * 1. Recording cost: tokens/s of agent-shaped calls (a 2 KB identity prefix kept in the slot, a
 *    prompt, greedy, 64 tokens) through InferenceService → SlotPool → the worker, with the
 *    InferenceRecorder writing each call to a real SQLite bus file, against the same calls without
 *    it, alternating the two call by call on the same pool. Target: >= 0.98x.
 * 2. Model file hash: sha256 of the model file (what each load computes, in parallel with the load)
 *    against loading the model, in the same run; MB/s, and what that means for a 4.7 GB GGUF.
 *
 * The recording-cost section is meant to run as part of `npm run bench -- observe` (issue 11); it
 * is exported as `measureRecordingCost` for that.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedDatabase, identityForName } from '@clawfleet/embedded-bus';
import {
  hashModelFile,
  InferenceRecorder,
  InferenceService,
  type ModelSpec,
  SlotPool,
  WorkerBackend,
} from '@clawfleet/orchestrator';
import { silentLogger } from '@clawfleet/protocol';
import { ensureTinyModel } from '@clawfleet/tiny-model';
import { format, machineDescription, percentile, table } from './support/statistics.ts';

const MODEL_SHAPE = { embeddingLength: 512, blockCount: 8, headCount: 8, headCountKv: 4, feedForwardLength: 1536 };
const CONTEXT_SIZE = 2048;
const ADMIN = 'orchestrator';
const AGENT = 'DevClaw';

/** An identity prelude of about 2 KB, like the agents' IDENTITY/SOUL/TOOLS prefix. */
function prefixOf(agent: string): string {
  const line = `You are ${agent}, one of five agents of Clawfleet. You triage, act with your tools and reflect. `;
  return line.repeat(Math.ceil(2048 / line.length));
}

export interface RecordingCostOptions {
  quick: boolean;
  threads: number;
}

export interface RecordingCostFigures {
  /** Generated tokens per second without recording, then with it (summed over the calls). */
  withoutTokensPerSecond: number;
  withTokensPerSecond: number;
  ratio: number;
  /** Median over the pairs of (tokens/s with) / (tokens/s without), each pair run back to back: robust to load spikes. */
  pairRatioP50: number;
  calls: number;
  /** Time spent inside the recorder per call (hashing + the SQLite write), p50 and p99, in ms. */
  recordMsP50: number;
  recordMsP99: number;
  /** Mean generation time of one call, ms (what the recording time compares with). */
  callMs: number;
  /** Time inside the recorder as a share of the recorded calls' time: the cost without the noise. */
  recordShare: number;
}

/**
 * Tokens/s of agent-shaped calls with and without recording, alternating the two arms call by
 * call on one pool (one slot holding the agent's prefix), with the time spent inside the recorder
 * measured directly too.
 */
export async function measureRecordingCost(options: RecordingCostOptions): Promise<RecordingCostFigures> {
  const directory = mkdtempSync(join(tmpdir(), 'claw-bench-replay-'));
  const modelPath = await ensureTinyModel(join(directory, 'models'), MODEL_SHAPE);
  const backend = await WorkerBackend.start({ gpu: false, maxThreads: options.threads, logger: silentLogger });
  const model: ModelSpec = { id: 'bench', path: modelPath, contextSize: CONTEXT_SIZE, slots: 1, gpuLayers: 0 };
  const pool = await SlotPool.create({ backend, models: [model] });
  const database = EmbeddedDatabase.open({ path: join(directory, 'bus.sqlite'), adminName: ADMIN });
  database.callReducer(ADMIN, 'register_agent', { name: AGENT, identity: identityForName(AGENT), role: 'bench' });
  const recorder = new InferenceRecorder({ database, adminName: ADMIN, retention: 30, logger: silentLogger });
  const recordMs: number[] = [];
  const settings = {
    agents: { [AGENT]: { modelId: 'bench', sampling: { maxTokens: 64 } } },
  };
  const plain = new InferenceService({ pool, settings });
  const recording = new InferenceService({
    pool,
    settings,
    onGeneration: (call) => {
      const started = performance.now();
      recorder.record(call);
      recordMs.push(performance.now() - started);
    },
  });
  const pairs = options.quick ? 8 : 32;
  const totals = { without: { tokens: 0, ms: 0 }, with: { tokens: 0, ms: 0 } };
  let prompt = 0;
  /** tokens/s of each call of the current pair, by arm. */
  const pairRates: { without?: number; with?: number } = {};
  const pairRatios: number[] = [];
  const call = async (service: InferenceService, arm: 'without' | 'with' | 'warm-up'): Promise<void> => {
    prompt += 1;
    const started = performance.now();
    // One agent, so its prefix stays in the slot as the pool's affinity keeps it for real agents;
    // free text capped at 64 tokens, so every call generates as many tokens and the time is the
    // generation's, not the length of a reply.
    const reply = await service.generate(AGENT, {
      prefix: prefixOf(AGENT),
      prompt: `Stimulus ${String(prompt).padStart(4, '0')}: the nightly build of service ${String(prompt % 17).padStart(2, '0')} failed. What do you do?`,
      priority: 'triage',
    });
    if (arm === 'warm-up') return;
    const elapsed = performance.now() - started;
    totals[arm].ms += elapsed;
    totals[arm].tokens += reply.tokensOut;
    pairRates[arm] = reply.tokensOut / elapsed;
  };
  try {
    // Warm-up: the load and the agent's prefix in the slot.
    await call(plain, 'warm-up');
    recordMs.length = 0;
    // Call by call, alternating which arm goes first, so drift on a shared machine hits both alike.
    for (let pair = 0; pair < pairs; pair++) {
      if (pair % 2 === 0) {
        await call(plain, 'without');
        await call(recording, 'with');
      } else {
        await call(recording, 'with');
        await call(plain, 'without');
      }
      if (pairRates.with !== undefined && pairRates.without !== undefined && pairRates.without > 0) {
        pairRatios.push(pairRates.with / pairRates.without);
      }
    }
  } finally {
    recorder.dispose();
    await pool.dispose();
    await backend.dispose();
    database.close();
    rmSync(directory, { recursive: true, force: true });
  }
  const withoutTokensPerSecond = totals.without.tokens / (totals.without.ms / 1000);
  const withTokensPerSecond = totals.with.tokens / (totals.with.ms / 1000);
  return {
    withoutTokensPerSecond,
    withTokensPerSecond,
    ratio: withTokensPerSecond / withoutTokensPerSecond,
    pairRatioP50: percentile(pairRatios, 0.5),
    calls: recordMs.length,
    recordMsP50: percentile(recordMs, 0.5),
    recordMsP99: percentile(recordMs, 0.99),
    callMs: totals.with.ms / pairs,
    recordShare: recordMs.reduce((sum, value) => sum + value, 0) / totals.with.ms,
  };
}

/** Lines of the recording-cost section, for this benchmark and for `bench observe`. */
export function recordingCostLines(figures: RecordingCostFigures): string[] {
  return [
    table(
      ['calls recorded', 'tokens/s without', 'tokens/s with', 'ratio (target >= 0.98)', 'median pair ratio'],
      [
        [
          figures.calls,
          format(figures.withoutTokensPerSecond),
          format(figures.withTokensPerSecond),
          `${format(figures.ratio, 3)}x`,
          `${format(figures.pairRatioP50, 3)}x`,
        ],
      ],
    ),
    `recording one call: p50 ${format(figures.recordMsP50, 3)} ms, p99 ${format(figures.recordMsP99, 3)} ms, against ${format(figures.callMs, 1)} ms per call`,
    `time inside the recorder: ${format(figures.recordShare * 100, 3)}% of the recorded calls' time (ratio from it alone: ${format(1 / (1 + figures.recordShare), 4)}x)`,
  ];
}

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
  const os = await import('node:os');
  console.log(
    `bench replay on ${await machineDescription()}; load ${os
      .loadavg()
      .map((value) => value.toFixed(2))
      .join(' ')}`,
  );
  console.log(`\n1. Recording every model call for replay (${threads} thread${threads === 1 ? '' : 's'})`);
  for (const line of recordingCostLines(await measureRecordingCost({ quick, threads }))) console.log(line);
  console.log('\n2. The model file hash each load computes');
  for (const line of await measureModelHash(quick, threads)) console.log(line);
}
