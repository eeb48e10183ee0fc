/**
 * The `recording` section of `npm run bench -- observe` (also part of `npm run bench -- replay`):
 * what recording every model call for replay costs (docs/provenance.md). Tokens/s of agent-shaped
 * calls (a 2 KB identity prefix kept in the slot, a prompt, greedy, 64 tokens) through
 * InferenceService → SlotPool → the inference worker on the generated benchmark-shape model (embd
 * 512, 8 layers, 1 thread), with the InferenceRecorder writing each call to a real SQLite bus file,
 * against the same calls without it and a control arm (without, again: the run's noise), rotating
 * the three call by call on the same pool. Target: >= 0.98x. It also times the recorder itself (its
 * share of the calls' time is the cost without the noise). It builds its own service and pool in
 * this process, so it needs nothing of the orchestrator the runner starts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedDatabase, identityForName } from '@clawfleet/embedded-bus';
import { InferenceRecorder, InferenceService, type ModelSpec, SlotPool, WorkerBackend } from '@clawfleet/orchestrator';
import { silentLogger } from '@clawfleet/protocol';
import { ensureTinyModel } from '@clawfleet/tiny-model';
import { format, percentile, table } from '../support/statistics.ts';
import type { ObserveBenchSection } from './section.ts';

export const MODEL_SHAPE = {
  embeddingLength: 512,
  blockCount: 8,
  headCount: 8,
  headCountKv: 4,
  feedForwardLength: 1536,
};
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
  controlTokensPerSecond: number;
  /** Median over the rounds of (tokens/s with) / (tokens/s without), run back to back: robust to load spikes. */
  pairRatioP50: number;
  /** The same two figures for the control arm (no recording either): the run's noise. */
  controlRatio: number;
  controlRatioP50: number;
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
  // The control arm: a second service without recording, measured like the others. Its ratio to
  // `without` is the noise of this run (1.0 on a quiet machine); a recording ratio within it is noise.
  const control = new InferenceService({ pool, settings });
  const recording = new InferenceService({
    pool,
    settings,
    onGeneration: (call) => {
      const started = performance.now();
      recorder.record(call);
      recordMs.push(performance.now() - started);
    },
  });
  const rounds = options.quick ? 9 : 30;
  const totals = { without: { tokens: 0, ms: 0 }, with: { tokens: 0, ms: 0 }, control: { tokens: 0, ms: 0 } };
  let prompt = 0;
  type Arm = 'without' | 'with' | 'control';
  /** tokens/s of each call of the current round, by arm. */
  const rates: Partial<Record<Arm, number>> = {};
  const pairRatios: number[] = [];
  const controlRatios: number[] = [];
  const call = async (service: InferenceService, arm: Arm | 'warm-up'): Promise<void> => {
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
    rates[arm] = reply.tokensOut / elapsed;
  };
  try {
    // Warm-up: the load and the agent's prefix in the slot.
    await call(plain, 'warm-up');
    recordMs.length = 0;
    // Call by call, the three arms in a rotating order, so drift on a shared machine hits all alike.
    const services: Record<Arm, InferenceService> = { without: plain, with: recording, control };
    const orders: Arm[][] = [
      ['without', 'with', 'control'],
      ['with', 'control', 'without'],
      ['control', 'without', 'with'],
    ];
    for (let round = 0; round < rounds; round++) {
      for (const arm of orders[round % orders.length] as Arm[]) await call(services[arm], arm);
      const { without, with: recorded, control: controlled } = rates;
      if (without !== undefined && without > 0 && recorded !== undefined && controlled !== undefined) {
        pairRatios.push(recorded / without);
        controlRatios.push(controlled / without);
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
    controlTokensPerSecond: totals.control.tokens / (totals.control.ms / 1000),
    pairRatioP50: percentile(pairRatios, 0.5),
    calls: recordMs.length,
    recordMsP50: percentile(recordMs, 0.5),
    recordMsP99: percentile(recordMs, 0.99),
    callMs: totals.with.ms / rounds,
    controlRatio: totals.control.tokens / (totals.control.ms / 1000) / withoutTokensPerSecond,
    controlRatioP50: percentile(controlRatios, 0.5),
    recordShare: recordMs.reduce((sum, value) => sum + value, 0) / totals.with.ms,
  };
}

/** Lines of the recording-cost section, for this benchmark and for `bench observe`. */
export function recordingCostLines(figures: RecordingCostFigures): string[] {
  return [
    table(
      ['arm', 'calls', 'tokens/s', 'ratio to without', 'median ratio per round'],
      [
        ['without recording', figures.calls, format(figures.withoutTokensPerSecond), '1.000x', '1.000x'],
        [
          'with recording (target >= 0.98x)',
          figures.calls,
          format(figures.withTokensPerSecond),
          `${format(figures.ratio, 3)}x`,
          `${format(figures.pairRatioP50, 3)}x`,
        ],
        [
          'control: without again (the noise)',
          figures.calls,
          format(figures.controlTokensPerSecond),
          `${format(figures.controlRatio, 3)}x`,
          `${format(figures.controlRatioP50, 3)}x`,
        ],
      ],
    ),
    `recording one call: p50 ${format(figures.recordMsP50, 3)} ms, p99 ${format(figures.recordMsP99, 3)} ms, against ${format(figures.callMs, 1)} ms per call`,
    `time inside the recorder: ${format(figures.recordShare * 100, 3)}% of the recorded calls' time (ratio from it alone: ${format(1 / (1 + figures.recordShare), 4)}x)`,
  ];
}

export const recordingCostSection: ObserveBenchSection = {
  name: 'recording',
  title: 'tokens/s of agent model calls recorded for replay vs. not recorded (target >= 0.98x)',
  async run({ quick, args }) {
    const threadsAt = args.indexOf('--threads');
    const threads = threadsAt === -1 ? 1 : Number(args[threadsAt + 1]);
    return recordingCostLines(await measureRecordingCost({ quick, threads }));
  },
};
