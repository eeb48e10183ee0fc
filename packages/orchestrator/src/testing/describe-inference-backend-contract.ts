import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ErrorCode, isClawError } from '@clawfleet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InferenceBackend, ModelSpec } from '../inference/backend.ts';

/** What a contract run needs from the implementation under test. */
export interface InferenceBackendContractSubject {
  backend: InferenceBackend;
  /**
   * A model that loads on this backend, with at least 2 slots and a context of at least 2048 tokens.
   * Its path must exist; the suite derives a missing path and other ids from it.
   */
  model: ModelSpec;
}

export interface InferenceBackendContractOptions {
  /** Per-test timeout in milliseconds. @default 60_000 */
  timeoutMs?: number;
}

/**
 * The behaviour every {@link InferenceBackend} shares, asserted as properties (a fake cannot
 * produce real tokens, so no test compares exact text across backends).
 *
 * Semantics fixed here, which the slot pool relies on:
 * - `loadModel` of an id already loaded with the same path returns the loaded model (loaded once,
 *   shared); the same id with another path is CONFLICT.
 * - A missing file is MODEL_NOT_FOUND and the message names the file, for both
 *   `estimateModelMemory` and `loadModel`.
 * - `unloadModel` of an id that is not loaded resolves (idempotent).
 * - `generate`/`embed` on a model that is not loaded is NOT_FOUND; a slot outside 0..slots-1 or a
 *   bad `maxTokens` is INVALID_PARAMS; a second `generate` on a busy slot is CONFLICT (not retryable:
 *   the pool must never do it).
 * - `tokensOut <= maxTokens`; stopReason `max-tokens` exactly when the cap was reached.
 * - Deltas concatenate to `text`.
 * - Two slots of one model generate at the same time: each has produced text before the other ends.
 * - Sampling is honoured: the same seed gives the same text, another seed at a non-zero temperature
 *   gives another text.
 * - An abort during generation resolves with stopReason `aborted` (never `eos`) and the text so far;
 *   a signal already aborted before the call rejects with CANCELLED.
 * - With `jsonSchema`, `text` parses as JSON and matches the schema (given enough `maxTokens`).
 * - `embed` returns one vector per text, each of `embeddingSize` finite numbers; equal texts give
 *   equal vectors; `tokensIn` counts the tokens embedded.
 * - A slot that ran a prefix reports, on the next request with the same prefix, `tokensReused > 0`,
 *   and greedy sampling gives the same text as without reuse.
 * - A loaded model names what runs it (for replay): a sha256 of its file (64 hex digits, the same
 *   whenever the same file is loaded) and the engine, version, backend and threads; a generation
 *   reports its token ids (`outputTokens`, `tokensOut` of them).
 * - After `dispose()`, calls reject with SHUTTING_DOWN.
 */
export function describeInferenceBackendContract(
  name: string,
  factory: () => Promise<InferenceBackendContractSubject>,
  options: InferenceBackendContractOptions = {},
): void {
  const timeout = options.timeoutMs ?? 60_000;

  describe(`InferenceBackend contract: ${name}`, () => {
    let subject: InferenceBackendContractSubject;
    let backend: InferenceBackend;
    let model: ModelSpec;

    beforeAll(async () => {
      subject = await factory();
      backend = subject.backend;
      model = subject.model;
      expect(model.slots).toBeGreaterThanOrEqual(2);
      await backend.loadModel(model);
    }, timeout * 2);

    afterAll(async () => {
      await backend?.dispose();
    }, timeout);

    const missingPath = (): string => join(tmpdir(), `clawfleet-missing-${randomUUID()}.gguf`);

    /**
     * A generation that cannot end on its own before `LONG_OUTPUT_CHARACTERS` characters: a
     * JSON-schema grammar forbids the end of sequence until the string is that long, so a test
     * that sees it end early knows the backend stopped it.
     */
    const LONG_OUTPUT_CHARACTERS = 1200;
    const longRequest = (slot: number, prompt: string) => ({
      modelId: model.id,
      slot,
      prompt,
      sampling: { maxTokens: LONG_OUTPUT_CHARACTERS + 200, temperature: 1, seed: 11 + slot },
      // 30 strings of 40 characters: llama.cpp refuses one string rule repeated 1,200 times.
      jsonSchema: { type: 'array', items: { type: 'string', minLength: 40, maxLength: 40 }, minItems: 30 },
    });

    async function expectCode(promise: Promise<unknown>, code: ErrorCode, messageIncludes?: string): Promise<void> {
      let caught: unknown;
      try {
        await promise;
      } catch (error) {
        caught = error;
      }
      expect(caught, `expected a ClawError ${code}`).toBeDefined();
      if (!isClawError(caught, code)) {
        throw new Error(`Expected ClawError ${code}, got ${String(caught)}`, { cause: caught });
      }
      if (messageIncludes !== undefined) expect(caught.message).toContain(messageIncludes);
    }

    it(
      'estimates a positive memory size for a model and reports device memory',
      async () => {
        expect(await backend.estimateModelMemory(model)).toBeGreaterThan(0);
        const memory = await backend.memoryState();
        expect(memory.totalBytes).toBeGreaterThan(0);
        expect(memory.freeBytes).toBeGreaterThanOrEqual(0);
        expect(memory.freeBytes).toBeLessThanOrEqual(memory.totalBytes);
      },
      timeout,
    );

    it(
      'loads a model once and returns what it holds',
      async () => {
        const first = await backend.loadModel(model);
        const second = await backend.loadModel(model);
        expect(first.id).toBe(model.id);
        expect(first.slots).toBe(model.slots);
        expect(first.contextSize).toBe(model.contextSize);
        expect(first.embeddingSize).toBeGreaterThan(0);
        expect(first.memoryBytes).toBeGreaterThan(0);
        expect(second).toEqual(first);
        await expectCode(backend.loadModel({ ...model, path: missingPath() }), 'CONFLICT');
      },
      timeout,
    );

    it(
      'reports a missing model file as MODEL_NOT_FOUND naming the file',
      async () => {
        const path = missingPath();
        await expectCode(backend.estimateModelMemory({ ...model, id: 'missing', path }), 'MODEL_NOT_FOUND', path);
        await expectCode(backend.loadModel({ ...model, id: 'missing', path }), 'MODEL_NOT_FOUND', path);
      },
      timeout,
    );

    it(
      'generates at most maxTokens and streams deltas that concatenate to the text',
      async () => {
        const deltas: string[] = [];
        const result = await backend.generate(
          { modelId: model.id, slot: 0, prompt: 'Hello, who are you?', sampling: { maxTokens: 12 } },
          { onDelta: (text) => deltas.push(text) },
        );
        expect(result.tokensOut).toBeGreaterThan(0);
        expect(result.tokensOut).toBeLessThanOrEqual(12);
        expect(result.tokensIn).toBeGreaterThan(0);
        expect(['eos', 'max-tokens']).toContain(result.stopReason);
        if (result.stopReason === 'max-tokens') expect(result.tokensOut).toBe(12);
        expect(deltas.join('')).toBe(result.text);
        expect(result.generateMs).toBeGreaterThanOrEqual(0);
      },
      timeout,
    );

    it(
      'names what it ran: the model file hash and engine, and the generated token ids',
      async () => {
        const loaded = await backend.loadModel(model);
        expect(loaded.fileSha256).toMatch(/^[0-9a-f]{64}$/);
        expect(loaded.engine.name.length).toBeGreaterThan(0);
        expect(loaded.engine.version.length).toBeGreaterThan(0);
        expect(loaded.engine.threads).toBeGreaterThanOrEqual(1);
        const again = await backend.loadModel(model);
        expect(again.fileSha256).toBe(loaded.fileSha256);
        const result = await backend.generate({
          modelId: model.id,
          slot: 0,
          prompt: 'Count to three.',
          sampling: { maxTokens: 12, temperature: 0 },
        });
        expect(result.outputTokens).toHaveLength(result.tokensOut);
      },
      timeout,
    );

    it(
      'honours sampling: the same seed gives the same text, other seeds give other texts',
      async () => {
        const request = (seed: number) => ({
          modelId: model.id,
          slot: 1,
          prompt: 'Write something.',
          sampling: { maxTokens: 16, temperature: 0.8, topP: 0.9, seed },
        });
        const first = await backend.generate(request(42));
        const second = await backend.generate(request(42));
        expect(second.text).toBe(first.text);
        // A backend that ignores the seed or the temperature gives one text for every seed.
        const others: string[] = [];
        for (const seed of [43, 44, 45]) others.push((await backend.generate(request(seed))).text);
        expect(others.some((text) => text !== first.text)).toBe(true);
      },
      timeout,
    );

    it(
      'stops with stopReason aborted when the signal fires during generation',
      async () => {
        const controller = new AbortController();
        let streamed = '';
        const result = await backend.generate(longRequest(0, 'Tell a long story.'), {
          signal: controller.signal,
          onDelta: (text) => {
            streamed += text;
            if (!controller.signal.aborted) controller.abort();
          },
        });
        // The grammar rules out an end of its own here: only the abort can have stopped it early.
        expect(result.stopReason).toBe('aborted');
        expect(result.text.length).toBeLessThan(LONG_OUTPUT_CHARACTERS);
        expect(result.text).toBe(streamed);
      },
      timeout,
    );

    it(
      'rejects with CANCELLED when the signal is already aborted',
      async () => {
        const controller = new AbortController();
        controller.abort();
        await expectCode(
          backend.generate(
            { modelId: model.id, slot: 0, prompt: 'x', sampling: { maxTokens: 4 } },
            { signal: controller.signal },
          ),
          'CANCELLED',
        );
      },
      timeout,
    );

    it(
      'constrains output with a JSON schema so it parses and matches',
      async () => {
        const schema = {
          type: 'object',
          properties: {
            decision: { enum: ['act', 'delegate', 'defer', 'ignore'] },
            reason: { type: 'string', maxLength: 24 },
          },
          required: ['decision', 'reason'],
          additionalProperties: false,
        };
        const result = await backend.generate({
          modelId: model.id,
          slot: 1,
          prompt: 'Decide what to do about the failing build.',
          sampling: { maxTokens: 160, temperature: 0.7, seed: 3 },
          jsonSchema: schema,
        });
        const parsed = JSON.parse(result.text) as { decision: unknown; reason: unknown };
        expect(['act', 'delegate', 'defer', 'ignore']).toContain(parsed.decision);
        expect(typeof parsed.reason).toBe('string');
        // A random model can emit a broken UTF-8 sequence, which the grammar counts as one character
        // and decoding turns into a run of U+FFFD; count such a run once.
        expect([...(parsed.reason as string).replace(/\uFFFD+/g, '?')].length).toBeLessThanOrEqual(24);
      },
      timeout,
    );

    it(
      'runs requests on different slots of one model in parallel: both produce text before either ends',
      async () => {
        const controllers = [new AbortController(), new AbortController()];
        const started = [false, false];
        const ended = [false, false];
        let bothStartedWhileRunning: boolean | undefined;
        const runs = [0, 1].map((slot) =>
          backend
            .generate(longRequest(slot, `Parallel request ${slot}`), {
              signal: (controllers[slot] as AbortController).signal,
              onDelta: () => {
                started[slot] = true;
                if (bothStartedWhileRunning === undefined && started[0] && started[1]) {
                  // A backend that runs one slot after the other gets here only after the first ended.
                  bothStartedWhileRunning = !ended[0] && !ended[1];
                  for (const controller of controllers) controller.abort();
                }
              },
            })
            .finally(() => {
              ended[slot] = true;
            }),
        );
        const results = await Promise.all(runs);
        expect(bothStartedWhileRunning).toBe(true);
        for (const result of results) {
          expect(result.stopReason).toBe('aborted');
          expect(result.tokensOut).toBeGreaterThan(0);
        }
      },
      timeout,
    );

    it(
      'refuses a second request on a busy slot with CONFLICT',
      async () => {
        const running = backend.generate({
          modelId: model.id,
          slot: 0,
          prompt: 'Busy slot',
          sampling: { maxTokens: 32 },
        });
        await expectCode(
          backend.generate({ modelId: model.id, slot: 0, prompt: 'Second', sampling: { maxTokens: 4 } }),
          'CONFLICT',
        );
        const result = await running;
        expect(result.tokensOut).toBeGreaterThan(0);
      },
      timeout,
    );

    it(
      'rejects bad requests with typed errors',
      async () => {
        await expectCode(
          backend.generate({ modelId: 'not-loaded', slot: 0, prompt: 'x', sampling: { maxTokens: 4 } }),
          'NOT_FOUND',
          'not-loaded',
        );
        await expectCode(
          backend.generate({ modelId: model.id, slot: model.slots, prompt: 'x', sampling: { maxTokens: 4 } }),
          'INVALID_PARAMS',
          'slot',
        );
        await expectCode(
          backend.generate({ modelId: model.id, slot: 0, prompt: 'x', sampling: { maxTokens: 0 } }),
          'INVALID_PARAMS',
          'maxTokens',
        );
        await expectCode(backend.embed('not-loaded', ['x']), 'NOT_FOUND', 'not-loaded');
      },
      timeout,
    );

    it(
      'reuses a kept prefix on the same slot and gives the same greedy output',
      async () => {
        const prefix = 'You are LeadClaw, the coordinator. Your memory: the build broke twice yesterday. ';
        const request = { modelId: model.id, slot: 1, prefix, prompt: 'What now?', sampling: { maxTokens: 10 } };
        // Another prefix first, so the slot starts from a known different state.
        await backend.generate({ ...request, prefix: 'Unrelated prelude. ', prompt: 'x' });
        const cold = await backend.generate(request);
        const warm = await backend.generate({ ...request });
        expect(warm.tokensReused).toBeGreaterThan(0);
        expect(warm.tokensReused).toBeLessThanOrEqual(warm.tokensIn);
        expect(warm.tokensReused).toBeGreaterThan(cold.tokensReused);
        expect(warm.text).toBe(cold.text);
      },
      timeout,
    );

    it(
      'embeds texts into vectors of the model embedding size',
      async () => {
        const loaded = await backend.loadModel(model);
        const { vectors, tokensIn } = await backend.embed(model.id, ['alpha', 'beta gamma', 'alpha']);
        expect(vectors).toHaveLength(3);
        expect(tokensIn).toBeGreaterThanOrEqual(3);
        for (const vector of vectors) {
          expect(vector).toHaveLength(loaded.embeddingSize);
          for (const value of vector) expect(Number.isFinite(value)).toBe(true);
        }
        expect(vectors[2]).toEqual(vectors[0]);
      },
      timeout,
    );

    it(
      'unloads a model; later requests for it are NOT_FOUND and unloading again resolves',
      async () => {
        const other = { ...model, id: `${model.id}-second` };
        await backend.loadModel(other);
        await backend.unloadModel(other.id);
        await expectCode(
          backend.generate({ modelId: other.id, slot: 0, prompt: 'x', sampling: { maxTokens: 4 } }),
          'NOT_FOUND',
        );
        await backend.unloadModel(other.id);
      },
      timeout,
    );

    it(
      'refuses calls after dispose with SHUTTING_DOWN',
      async () => {
        await backend.dispose();
        await expectCode(
          backend.generate({ modelId: model.id, slot: 0, prompt: 'x', sampling: { maxTokens: 4 } }),
          'SHUTTING_DOWN',
        );
        await expectCode(backend.loadModel(model), 'SHUTTING_DOWN');
      },
      timeout,
    );
  });
}
