/**
 * `npm run bench -- inference [--quick] [--threads N] [--gpu cuda]` (threads default 1, CPU by default): the inference path against node-llama-cpp
 * called directly, on a generated model big enough that generation dominates (embd 512, 8 layers).
 *
 * 1. tokens/s through the orchestrator (IPC client -> InferenceService -> SlotPool -> WorkerBackend
 *    child) against node-llama-cpp in this process, same model, threads, context and greedy sampling;
 * 2. aggregate tokens/s with 1, 2 and 4 slots;
 * 3. wait of human-priority requests while compaction-priority load saturates every slot, against
 *    the duration of one compaction generation;
 * 4. scheduling overhead per request of the slot pool (fake backend) against p-queue doing the same
 *    empty work;
 * 5. time saved by prefix reuse on a repeated ~500-token prelude.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InferenceClient } from '@clawfleet/inference-client';
import { IpcClient, IpcServer, tokenAuthenticator } from '@clawfleet/ipc';
import {
  InferenceService,
  type InferenceServiceSettings,
  type ModelSpec,
  type PriorityClass,
  SlotPool,
  WorkerBackend,
} from '@clawfleet/orchestrator';
import { FakeInferenceBackend } from '@clawfleet/orchestrator/testing';
import { ensureTinyModel } from '@clawfleet/tiny-model';
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';
import PQueue from 'p-queue';
import { runInLanes } from './support/lanes.ts';
import { format, machineDescription, percentile, table } from './support/statistics.ts';

const MODEL_SHAPE = { embeddingLength: 512, blockCount: 8, headCount: 8, headCountKv: 4, feedForwardLength: 1536 };
const CONTEXT_SIZE = 1024;

/**
 * `--gpu cuda` runs every path (direct and orchestrator) on CUDA with all layers offloaded;
 * the default is the CPU. Set once in `run` before anything loads.
 */
let device: { gpu: 'cuda' | false; gpuLayers: 'auto' | 0 } = { gpu: false, gpuLayers: 0 };
const TOKENS = { LeadClaw: 'lead', DevClaw: 'dev', OpsClaw: 'ops', ScribeClaw: 'scribe', UXClaw: 'ux' };

interface Orchestrator {
  client(agent: keyof typeof TOKENS): Promise<InferenceClient>;
  close(): Promise<void>;
}

async function startOrchestrator(
  backend: WorkerBackend,
  modelPath: string,
  slots: number,
  maxTokens: number,
  directory: string,
): Promise<Orchestrator> {
  const model: ModelSpec = {
    id: `bench-${slots}`,
    path: modelPath,
    contextSize: CONTEXT_SIZE,
    slots,
    gpuLayers: device.gpuLayers,
  };
  const pool = await SlotPool.create({ backend, models: [model] });
  const agentSettings = { modelId: model.id, sampling: { maxTokens } };
  const settings: InferenceServiceSettings = {
    agents: Object.fromEntries(Object.keys(TOKENS).map((agent) => [agent, agentSettings])),
    // In the human-priority figure, LeadClaw's client stands in for the person at the CLI.
    humans: ['LeadClaw'],
  };
  const service = new InferenceService({ pool, settings });
  const socketPath = join(directory, `inference-${slots}-${Date.now()}.sock`);
  const server = new IpcServer({ socketPath, authenticate: tokenAuthenticator(TOKENS) });
  service.register(server);
  await server.listen();
  const clients: IpcClient[] = [];
  return {
    async client(agent) {
      const ipc = await IpcClient.connect({ socketPath, agent, token: TOKENS[agent], requestTimeoutMs: 600_000 });
      clients.push(ipc);
      return new InferenceClient(ipc);
    },
    async close() {
      for (const client of clients) await client.close();
      await server.close({ timeoutMs: 5000 });
      await pool.dispose();
    },
  };
}

function prompts(count: number): string[] {
  const topics = ['the build', 'the release', 'a flaky test', 'the database', 'memory use', 'the docs', 'a review'];
  return Array.from({ length: count }, (_, index) => `Report ${index}: what happened with ${topics[index % 7]}?`);
}

/**
 * node-llama-cpp called directly with `sequences` sequences of one context, each taking the next
 * prompt when it finishes one (history cleared per prompt, greedy, same budget). With one sequence
 * it is the single-request baseline; with more, the ceiling for what the slot pool can get out of
 * more slots on this machine.
 */
async function directAggregateTokensPerSecond(
  modelPath: string,
  threads: number,
  texts: string[],
  maxTokens: number,
  sequences: number,
): Promise<number> {
  const llama = await getLlama({ gpu: device.gpu, build: 'never', maxThreads: threads, logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath, gpuLayers: device.gpuLayers === 'auto' ? 'max' : 0 });
  const context = await model.createContext({ contextSize: CONTEXT_SIZE, sequences, threads });
  const lanes = Array.from({ length: sequences }, () => context.getSequence());
  let tokens = 0;
  const started = performance.now();
  await runInLanes(sequences, texts.length, async (index, lane) => {
    const sequence = lanes[lane]!;
    await sequence.clearHistory();
    const input = model.tokenize(texts[index]!);
    if (model.tokens.bos !== null && model.tokens.shouldPrependBosToken) input.unshift(model.tokens.bos);
    let generated = 0;
    for await (const _token of sequence.evaluate(input, { temperature: 0 })) {
      generated++;
      if (generated >= maxTokens) break;
    }
    tokens += generated;
  });
  const tokensPerSecond = tokens / ((performance.now() - started) / 1000);
  await context.dispose();
  await model.dispose();
  await llama.dispose();
  return tokensPerSecond;
}

async function orchestratorTokensPerSecond(client: InferenceClient, texts: string[]) {
  let tokens = 0;
  const started = performance.now();
  // A fresh prefix-less prompt each time, as the direct run clears its history.
  for (const text of texts) {
    const result = await client.generate(text, { priority: 'act' });
    tokens += result.tokensOut;
  }
  const seconds = (performance.now() - started) / 1000;
  return { tokens, seconds, tokensPerSecond: tokens / seconds };
}

async function aggregateTokensPerSecond(client: InferenceClient, texts: string[], concurrency: number) {
  let tokens = 0;
  const started = performance.now();
  await runInLanes(concurrency, texts.length, async (index) => {
    // Await first: `tokens += await ...` would read `tokens` before the await and lose the
    // other lanes' additions.
    const result = await client.generate(texts[index]!, { priority: 'act' });
    tokens += result.tokensOut;
  });
  return tokens / ((performance.now() - started) / 1000);
}

async function priorityWait(orchestrator: Orchestrator, slots: number, humanRequests: number) {
  const background = await orchestrator.client('ScribeClaw');
  const human = await orchestrator.client('LeadClaw');
  let stop = false;
  const backgroundDurations: number[] = [];
  const loops = Array.from({ length: slots * 2 }, async (_, loop) => {
    let index = 0;
    while (!stop) {
      const result = await background.generate(`Compact memory chunk ${loop}-${index++}.`, { priority: 'compaction' });
      backgroundDurations.push(result.generateMs);
    }
  });
  await new Promise((resolve) => setTimeout(resolve, 500));
  const waits: number[] = [];
  for (let index = 0; index < humanRequests; index++) {
    await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 150));
    const result = await human.generate(`A person asks question ${index}.`, { priority: 'human', maxTokens: 16 });
    waits.push(result.queuedMs);
  }
  stop = true;
  await Promise.all(loops);
  return {
    waits,
    backgroundMs: percentile(backgroundDurations, 0.5),
    backgroundP99Ms: percentile(backgroundDurations, 0.99),
  };
}

/** Acquire + release through the pool on a fake backend, against p-queue running the same empty tasks. */
async function schedulingOverhead(requests: number, inFlight: number) {
  const agents = ['LeadClaw', 'DevClaw', 'UXClaw', 'OpsClaw', 'ScribeClaw'];
  const priorities: PriorityClass[] = ['human', 'triage', 'act', 'reflect', 'compaction'];
  const backend = new FakeInferenceBackend({ checkPaths: false });
  const pool = await SlotPool.create({
    backend,
    models: [{ id: 'fake', path: '/fake.gguf', contextSize: 512, slots: 4, gpuLayers: 0 }],
    // Up to 1,000 in flight over five agents, unevenly at times: the per-agent cap is not what is measured.
    maxQueuedPerAgent: inFlight,
  });
  (await pool.acquire({ agent: 'LeadClaw', modelId: 'fake', priority: 'act' })).release(); // load once
  const measurePool = async () => {
    const started = performance.now();
    await runInLanes(inFlight, requests, async (index) => {
      const lease = await pool.acquire({
        agent: agents[index % 5] as string,
        modelId: 'fake',
        priority: priorities[(index * 7) % 5] as PriorityClass,
        prefix: index % 2 === 0 ? `prelude ${index % 5}` : undefined,
      });
      lease.release();
    });
    return ((performance.now() - started) * 1000) / requests;
  };
  const measureQueue = async () => {
    const queue = new PQueue({ concurrency: 4 });
    const started = performance.now();
    await runInLanes(inFlight, requests, async (index) => {
      await queue.add(async () => {}, { priority: index % 5 });
    });
    return ((performance.now() - started) * 1000) / requests;
  };
  await measurePool();
  await measureQueue(); // warm-up
  const poolMicroseconds = await measurePool();
  const queueMicroseconds = await measureQueue();
  await pool.dispose();
  return { poolMicroseconds, queueMicroseconds };
}

async function prefixReuse(client: InferenceClient, rounds: number) {
  const sentence = 'The orchestrator lends inference to five agents that share one device and one memory budget. ';
  // Calibrate the prelude to about 500 tokens with the model's own tokenizer (via tokensIn).
  let prelude = sentence.repeat(8);
  const probe = await client.generate('x', { prefix: prelude, maxTokens: 1 });
  prelude = sentence.repeat(Math.max(1, Math.round((8 * 500) / Math.max(1, probe.tokensIn - 2))));
  const measure = async (warm: boolean) => {
    const times: number[] = [];
    let reused = 0;
    let tokensIn = 0;
    for (let round = 0; round < rounds; round++) {
      // Cold: a different first word changes every token of the prelude, so nothing can be reused.
      const prefix = warm ? prelude : `Round ${round}. ${prelude}`;
      const started = performance.now();
      const result = await client.generate(`Question ${round}?`, { prefix, maxTokens: 8 });
      times.push(performance.now() - started);
      reused += result.tokensReused;
      tokensIn += result.tokensIn;
    }
    return { ms: percentile(times, 0.5), reused: reused / rounds, tokensIn: tokensIn / rounds };
  };
  const cold = await measure(false);
  await client.generate('warm-up', { prefix: prelude, maxTokens: 1 }); // the slot now holds the prelude
  const warm = await measure(true);
  return { cold, warm };
}

export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const threadsIndex = args.indexOf('--threads');
  // 1 by default: on the shared 2-core build machine, a second llama.cpp thread spin-waits on a
  // descheduled peer and makes every figure noise. Pass --threads N on a dedicated machine.
  const threads = threadsIndex >= 0 ? Number(args[threadsIndex + 1]) : 1;
  const gpuIndex = args.indexOf('--gpu');
  const gpu = gpuIndex >= 0 ? args[gpuIndex + 1] : undefined;
  if (gpu !== undefined && gpu !== 'cuda') throw new Error(`--gpu takes \`cuda\`, got \`${gpu}\``);
  if (gpu === 'cuda') device = { gpu: 'cuda', gpuLayers: 'auto' };
  const maxTokens = quick ? 48 : 128;
  const directory = mkdtempSync(join(tmpdir(), 'claw-bench-inference-'));
  console.log(`Machine: ${await machineDescription()}`);
  const modelPath = await ensureTinyModel(join(tmpdir(), 'clawfleet-bench-models'), MODEL_SHAPE);
  console.log(
    `Model: generated llama, embd ${MODEL_SHAPE.embeddingLength}, ${MODEL_SHAPE.blockCount} layers, ff ${MODEL_SHAPE.feedForwardLength}; ${device.gpu === false ? 'CPU' : 'CUDA'}, ${threads} threads, context ${CONTEXT_SIZE}, greedy, maxTokens ${maxTokens}\n`,
  );
  const backend = await WorkerBackend.start({ gpu: device.gpu, maxThreads: threads, contextThreads: threads });
  try {
    // 1. Orchestrator against direct, alternating to spread machine noise over both.
    const texts = prompts(quick ? 4 : 8);
    const direct: number[] = [];
    const viaOrchestrator: number[] = [];
    const single = await startOrchestrator(backend, modelPath, 1, maxTokens, directory);
    const singleClient = await single.client('DevClaw');
    await singleClient.generate('warm-up', { maxTokens: 4 });
    for (let round = 0; round < (quick ? 1 : 2); round++) {
      // One sequence, prompts one after another, history cleared per prompt: the single-request baseline.
      direct.push(await directAggregateTokensPerSecond(modelPath, threads, texts, maxTokens, 1));
      viaOrchestrator.push((await orchestratorTokensPerSecond(singleClient, texts)).tokensPerSecond);
    }
    const directBest = Math.max(...direct);
    const orchestratorBest = Math.max(...viaOrchestrator);
    console.log('1. Generation throughput, one request at a time (best of rounds)');
    console.log(
      table(
        ['path', 'tokens/s', 'ratio'],
        [
          ['node-llama-cpp direct', format(directBest), '1.00x'],
          [
            'orchestrator (IPC + pool + worker)',
            format(orchestratorBest),
            `${format(orchestratorBest / directBest, 2)}x`,
          ],
        ],
      ),
    );

    // 5. Prefix reuse on the single-slot orchestrator: the slot keeps the prelude.
    const reuse = await prefixReuse(singleClient, quick ? 3 : 6);
    await single.close();

    // 2. Aggregate throughput with 1, 2, 4 slots: rounds alternate the slot counts, best of rounds,
    // so a burst of other work on the machine does not land on one configuration only.
    const best = new Map<number, number>();
    for (let round = 0; round < (quick ? 1 : 2); round++) {
      for (const slots of [1, 2, 4]) {
        const orchestrator = await startOrchestrator(backend, modelPath, slots, maxTokens, directory);
        const client = await orchestrator.client('DevClaw');
        await client.generate('warm-up', { maxTokens: 4 });
        const tokensPerSecond = await aggregateTokensPerSecond(client, prompts(quick ? 4 : 8), 4);
        best.set(slots, Math.max(best.get(slots) ?? 0, tokensPerSecond));
        await orchestrator.close();
      }
    }
    const oneSlot = best.get(1) as number;
    const directAggregate = new Map<number, number>();
    for (let round = 0; round < (quick ? 1 : 2); round++) {
      for (const sequences of [1, 2, 4]) {
        const direct = await directAggregateTokensPerSecond(
          modelPath,
          threads,
          prompts(quick ? 4 : 8),
          maxTokens,
          sequences,
        );
        directAggregate.set(sequences, Math.max(directAggregate.get(sequences) ?? 0, direct));
      }
    }
    const oneSequence = directAggregate.get(1) as number;
    const aggregateRows = [...best].map(([slots, tokensPerSecond]) => [
      slots,
      format(tokensPerSecond),
      `${format(tokensPerSecond / oneSlot, 2)}x`,
      format(directAggregate.get(slots) ?? Number.NaN),
      `${format((directAggregate.get(slots) ?? Number.NaN) / oneSequence, 2)}x`,
      `${format(tokensPerSecond / (directAggregate.get(slots) ?? Number.NaN), 2)}x`,
    ]);
    console.log('\n2. Aggregate throughput, 4 concurrent clients (best of rounds)');
    console.log(
      table(
        [
          'slots',
          'orchestrator tok/s',
          'vs 1 slot',
          'direct tok/s (same sequences)',
          'vs 1 sequence',
          'orchestrator vs direct',
        ],
        aggregateRows,
      ),
    );

    // 3. Human-priority wait under saturating compaction load.
    const slots = 2;
    const saturated = await startOrchestrator(backend, modelPath, slots, quick ? 48 : 96, directory);
    const wait = await priorityWait(saturated, slots, quick ? 8 : 20);
    await saturated.close();
    console.log(`\n3. Human-priority wait while compaction saturates ${slots} slots (${wait.waits.length} requests)`);
    console.log(
      table(
        ['figure', 'ms', 'vs one compaction generation'],
        [
          [
            'human wait p50',
            format(percentile(wait.waits, 0.5)),
            `${format(percentile(wait.waits, 0.5) / wait.backgroundMs, 2)}x`,
          ],
          [
            'human wait p99',
            format(percentile(wait.waits, 0.99)),
            `${format(percentile(wait.waits, 0.99) / wait.backgroundMs, 2)}x`,
          ],
          ['one compaction generation (p50)', format(wait.backgroundMs), '1.00x'],
          [
            'one compaction generation (p99)',
            format(wait.backgroundP99Ms),
            `${format(wait.backgroundP99Ms / wait.backgroundMs, 2)}x`,
          ],
        ],
      ),
    );

    // 4. Scheduling overhead.
    const overheadRows: (string | number)[][] = [];
    for (const inFlight of [1, 64, 1000]) {
      const overhead = await schedulingOverhead(quick ? 5000 : 20_000, inFlight);
      overheadRows.push([
        inFlight,
        format(overhead.poolMicroseconds, 2),
        format(overhead.queueMicroseconds, 2),
        `${format(overhead.poolMicroseconds / overhead.queueMicroseconds, 2)}x`,
      ]);
    }
    console.log('\n4. Scheduling overhead per request (acquire + release, 4 slots, fake backend)');
    console.log(table(['requests in flight', 'slot pool us', 'p-queue us', 'ratio'], overheadRows));

    console.log(
      `\n5. Prefix reuse, ~${Math.round(reuse.warm.tokensIn)}-token prompt with a repeated prelude, 8 tokens out (p50)`,
    );
    console.log(
      table(
        ['case', 'ms/request', 'tokens reused', 'ratio'],
        [
          ['prelude changes every time', format(reuse.cold.ms), format(reuse.cold.reused, 0), '1.00x'],
          [
            'same prelude, same slot',
            format(reuse.warm.ms),
            format(reuse.warm.reused, 0),
            `${format(reuse.warm.ms / reuse.cold.ms, 2)}x`,
          ],
        ],
      ),
    );
    console.log(`   saved per request: ${format(reuse.cold.ms - reuse.warm.ms)} ms`);
  } finally {
    await backend.dispose();
    rmSync(directory, { recursive: true, force: true });
  }
}
