import { createHash } from 'node:crypto';
import { copyFile, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ClawError, isClawError } from '@clawfleet/protocol';
import { ensureTinyModel } from '@clawfleet/tiny-model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelSpec } from '../backend.ts';
import { WorkerBackend } from './worker-backend.ts';

const modelDirectory = join(tmpdir(), 'clawfleet-test-models');
let scratch: string;
let tinyPath: string;
let backend: WorkerBackend;
const tiny = (overrides: Partial<ModelSpec> = {}): ModelSpec => ({
  id: 'tiny',
  path: tinyPath,
  contextSize: 1024,
  slots: 4,
  gpuLayers: 0,
  ...overrides,
});

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'clawfleet-worker-'));
  tinyPath = await ensureTinyModel(modelDirectory);
  backend = await WorkerBackend.start({ gpu: false, maxThreads: 2, contextThreads: 1 });
  await backend.loadModel(tiny());
});

afterAll(async () => {
  await backend?.dispose();
  await rm(scratch, { recursive: true, force: true });
});

async function rejection(promise: Promise<unknown>): Promise<ClawError> {
  try {
    await promise;
  } catch (error) {
    if (isClawError(error)) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

describe('WorkerBackend with the generated model', () => {
  it('hashes the model file it loads (sha256 of its bytes) and names node-llama-cpp on the cpu', async () => {
    const loaded = await backend.loadModel(tiny());
    const bytes = await readFile(tinyPath);
    expect(loaded.fileSha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(loaded.engine).toMatchObject({ name: 'node-llama-cpp', backend: 'cpu', threads: 1 });
    expect(loaded.engine.version).toMatch(/^\d+\.\d+\.\d+/);
    // Another file (one byte of metadata changed) is another hash under another id.
    const other = join(scratch, 'other.gguf');
    await writeFile(
      other,
      Buffer.concat([bytes.subarray(0, bytes.length - 1), Buffer.from([bytes[bytes.length - 1]! ^ 1])]),
    );
    const changed = await backend.loadModel(tiny({ id: 'tiny-other', path: other }));
    expect(changed.fileSha256).not.toBe(loaded.fileSha256);
    await backend.unloadModel('tiny-other');
  });

  it('runs parallel sequences on one model; each slot is independent', async () => {
    const results = await Promise.all(
      [0, 1, 2, 3].map((slot) =>
        backend.generate({ modelId: 'tiny', slot, prompt: 'Same prompt on every slot', sampling: { maxTokens: 24 } }),
      ),
    );
    for (const result of results) expect(result.tokensOut).toBeGreaterThan(0);
    // Greedy decoding of the same prompt gives the same text on every sequence.
    expect(new Set(results.map((result) => result.text)).size).toBe(1);
  });

  it('keeps JSON-schema output parseable and valid across seeds', async () => {
    const schema = {
      type: 'object',
      properties: {
        decision: { enum: ['act', 'delegate', 'defer', 'ignore'] },
        priority: { enum: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] },
        mentions: { type: 'array', items: { enum: ['LeadClaw', 'DevClaw', 'OpsClaw'] }, maxItems: 3 },
      },
      required: ['decision', 'priority', 'mentions'],
      additionalProperties: false,
    };
    for (const seed of [1, 2, 3, 4, 5]) {
      const result = await backend.generate({
        modelId: 'tiny',
        slot: 2,
        prompt: `Triage stimulus ${seed}`,
        sampling: { maxTokens: 200, temperature: 1, seed },
        jsonSchema: schema,
      });
      expect(result.stopReason).toBe('eos');
      const parsed = JSON.parse(result.text) as Record<string, unknown>;
      expect(Object.keys(parsed).sort()).toEqual(['decision', 'mentions', 'priority']);
      expect(schema.properties.decision.enum).toContain(parsed.decision);
      expect(schema.properties.priority.enum).toContain(parsed.priority);
      expect(Array.isArray(parsed.mentions)).toBe(true);
      expect((parsed.mentions as unknown[]).length).toBeLessThanOrEqual(3);
      for (const mention of parsed.mentions as unknown[]) expect(['LeadClaw', 'DevClaw', 'OpsClaw']).toContain(mention);
    }
  });

  it('returns embeddings of the model dimension (64 for the default tiny model, 128 for a wider one)', async () => {
    const [vector] = (await backend.embed('tiny', ['memory retrieval'])).vectors;
    expect(vector).toHaveLength(64);
    const widePath = await ensureTinyModel(modelDirectory, { embeddingLength: 128, headCount: 4, headCountKv: 2 });
    const wide = await backend.loadModel(tiny({ id: 'wide', path: widePath, slots: 1, contextSize: 256 }));
    expect(wide.embeddingSize).toBe(128);
    const { vectors } = await backend.embed('wide', ['one', 'two']);
    expect(vectors.map((entry) => entry.length)).toEqual([128, 128]);
    expect(await backend.estimateModelMemory(tiny({ id: 'wide', path: widePath }))).toBeGreaterThan(
      await backend.estimateModelMemory(tiny()),
    );
    await backend.unloadModel('wide');
  });

  it('reuses the kept prefix of a slot, and gives the same output as a fresh evaluation', async () => {
    const prefix =
      'IDENTITY: You are DevClaw. SOUL: careful, terse. MEMORY: the release is on Friday; tests are flaky on CI. ';
    const request = { modelId: 'tiny', prefix, sampling: { maxTokens: 16 } } as const;
    const cold = await backend.generate({ ...request, slot: 0, prompt: 'Plan the day.' });
    const warm = await backend.generate({ ...request, slot: 0, prompt: 'Review the build.' });
    const fresh = await backend.generate({ ...request, slot: 3, prompt: 'Review the build.' });
    // Everything up to the end of the prefix (BOS + prefix tokens) was kept; the prompt was new
    // (a prompt never has more tokens than characters).
    expect(warm.tokensReused).toBeGreaterThanOrEqual(cold.tokensIn - 'Plan the day.'.length);
    expect(warm.tokensReused).toBeLessThan(warm.tokensIn);
    expect(fresh.tokensReused).toBeLessThan(warm.tokensReused);
    expect(warm.text).toBe(fresh.text);

    // Another agent's prefix on the same slot diverges after the shared words: only BOS and those
    // are kept, the rest of the old state is erased.
    const other = await backend.generate({ ...request, slot: 0, prefix: 'IDENTITY: You are OpsClaw. ', prompt: 'x' });
    expect(other.tokensReused).toBeLessThanOrEqual(1 + 'IDENTITY: You are '.length);
    expect(other.tokensReused).toBeLessThan(warm.tokensReused);
  });

  it('refuses a 4 MiB prompt and an oversized embedding text by length, and keeps serving', async () => {
    const huge = 'x'.repeat(4 * 1024 * 1024);
    // It used to answer INTERNAL: Maximum call stack size exceeded (tokens spread as arguments).
    const prompt = await rejection(
      backend.generate({ modelId: 'tiny', slot: 0, prompt: huge, sampling: { maxTokens: 4 } }),
    );
    expect(prompt.code).toBe('INVALID_PARAMS');
    expect(prompt.message).toBe(
      `Expected \`prefix\` and \`prompt\` together to be at most 16384 characters (context 1024 tokens), got ${huge.length}`,
    );
    const text = await rejection(backend.embed('tiny', ['fine', huge]));
    expect(text.code).toBe('INVALID_PARAMS');
    expect(text.message).toContain('Expected `texts[1]` to be at most 16384 characters');
    // Under the character limit but over the context in tokens: refused after tokenizing.
    const long = await rejection(
      backend.generate({ modelId: 'tiny', slot: 0, prompt: 'word '.repeat(3000), sampling: { maxTokens: 4 } }),
    );
    expect(long.code).toBe('INVALID_PARAMS');
    expect(long.message).toContain('the slot holds 1024');
    const after = await backend.generate({
      modelId: 'tiny',
      slot: 0,
      prompt: 'still here?',
      sampling: { maxTokens: 4 },
    });
    expect(after.tokensOut).toBeGreaterThan(0);
  });

  it('names missing, truncated and corrupt files in MODEL_NOT_FOUND / MODEL_INVALID errors', async () => {
    const missing = join(scratch, 'absent.gguf');
    const missingError = await rejection(backend.loadModel(tiny({ id: 'absent', path: missing })));
    expect(missingError.code).toBe('MODEL_NOT_FOUND');
    expect(missingError.message).toContain(missing);

    const truncated = join(scratch, 'truncated.gguf');
    await copyFile(tinyPath, truncated);
    await truncate(truncated, 200_000);
    const truncatedError = await rejection(backend.loadModel(tiny({ id: 'truncated', path: truncated })));
    expect(truncatedError.code).toBe('MODEL_INVALID');
    expect(truncatedError.message).toContain(truncated);
    expect(truncatedError.message).toContain('truncated');
    expect((await rejection(backend.estimateModelMemory(tiny({ path: truncated })))).code).toBe('MODEL_INVALID');

    const corrupt = join(scratch, 'corrupt.gguf');
    await writeFile(corrupt, Buffer.from('this is not a model, just text pretending to be one'.repeat(100)));
    const corruptError = await rejection(backend.loadModel(tiny({ id: 'corrupt', path: corrupt })));
    expect(corruptError.code).toBe('MODEL_INVALID');
    expect(corruptError.message).toContain(corrupt);

    const directoryError = await rejection(backend.loadModel(tiny({ id: 'directory', path: scratch })));
    expect(directoryError.code).toBe('MODEL_NOT_FOUND');

    // None of that disturbed the worker.
    expect(backend.restarts).toBe(0);
    const result = await backend.generate({
      modelId: 'tiny',
      slot: 0,
      prompt: 'still here',
      sampling: { maxTokens: 4 },
    });
    expect(result.tokensOut).toBeGreaterThan(0);
  });

  it('survives a model that aborts the worker: in-flight requests fail retryable, the next request succeeds', async () => {
    const crashPath = await ensureTinyModel(modelDirectory, { variant: 'aborts-on-first-use' });
    await backend.loadModel(tiny({ id: 'crash', path: crashPath, slots: 1, contextSize: 256 }));
    const pidBefore = backend.workerPid;

    // A long generation on the healthy model is in flight when the crash comes. The seed is one whose
    // sampled text runs to maxTokens (with the UTF-8 guard, seed 9 met EOS after 27 tokens).
    let started!: () => void;
    const firstDelta = new Promise<void>((resolve) => {
      started = resolve;
    });
    const inFlight = backend.generate(
      { modelId: 'tiny', slot: 1, prompt: 'Long story', sampling: { maxTokens: 1000, temperature: 1, seed: 7 } },
      { onDelta: () => started() },
    );
    await firstDelta;
    const crashError = await rejection(
      backend.generate({ modelId: 'crash', slot: 0, prompt: 'boom', sampling: { maxTokens: 4 } }),
    );
    expect(crashError.code).toBe('WORKER_CRASHED');
    expect(crashError.retryable).toBe(true);
    const inFlightOutcome = await inFlight.then(
      (result) => result,
      (error: unknown) => error,
    );
    // The healthy model's request was still generating (1000 tokens take far longer than the crash),
    // so it fails with the same retryable error rather than hanging or resolving.
    expect(isClawError(inFlightOutcome, 'WORKER_CRASHED')).toBe(true);

    // The models come back with the new worker; the healthy one answers.
    const after = await backend.generate({
      modelId: 'tiny',
      slot: 1,
      prompt: 'Are you back?',
      sampling: { maxTokens: 8 },
    });
    expect(after.tokensOut).toBeGreaterThan(0);
    expect(backend.restarts).toBe(1);
    expect(backend.workerPid).not.toBe(pidBefore);
    await backend.unloadModel('crash');
  });

  it('restarts after the worker is killed from outside and reloads its models; calls made meanwhile wait', async () => {
    const pidBefore = backend.workerPid;
    const restartsBefore = backend.restarts;
    expect(pidBefore).toBeDefined();
    process.kill(pidBefore as number, 'SIGKILL');
    while (backend.workerPid === pidBefore) await new Promise((resolve) => setTimeout(resolve, 10));
    // The restart is under way: these wait for the new worker and the reloaded model.
    const [result, vectors] = await Promise.all([
      backend.generate({ modelId: 'tiny', slot: 0, prompt: 'after the kill', sampling: { maxTokens: 4 } }),
      backend.embed('tiny', ['after the kill']),
    ]);
    expect(result.tokensOut).toBeGreaterThan(0);
    expect(vectors.vectors[0]).toHaveLength(64);
    expect(backend.restarts).toBe(restartsBefore + 1);
  });

  it('restarts nothing once shutdown has begun: a worker that dies then stays down', async () => {
    // Runs last: it leaves the shared backend shut down.
    const pidBefore = backend.workerPid as number;
    const restartsBefore = backend.restarts;
    backend.beginShutdown();
    // Requests still run while the orchestrator drains.
    expect(
      (await backend.generate({ modelId: 'tiny', slot: 0, prompt: 'draining', sampling: { maxTokens: 4 } })).tokensOut,
    ).toBeGreaterThan(0);
    process.kill(pidBefore, 'SIGKILL');
    while (backend.workerPid === pidBefore) await new Promise((resolve) => setTimeout(resolve, 10));
    const refused = await rejection(
      backend.generate({ modelId: 'tiny', slot: 0, prompt: 'after', sampling: { maxTokens: 4 } }),
    );
    expect(refused.code).toBe('SHUTTING_DOWN');
    expect(backend.workerPid).toBeUndefined();
    expect(backend.restarts).toBe(restartsBefore);
  });
});
