import { totalmem } from 'node:os';
import { ClawError } from '@clawfleet/protocol';
import {
  type GgufInsights,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaEmbeddingContext,
  type LlamaGrammar,
  LlamaGrammarEvaluationState,
  type LlamaModel,
  type Token,
  TokenBias,
} from 'node-llama-cpp';
import {
  type EmbedResult,
  type GenerateRequest,
  type GenerateResult,
  type LoadedModel,
  type MemoryState,
  type ModelSpec,
  maxPromptCharacters,
} from '../backend.ts';
import { checkModelFile } from './model-file-check.ts';
import { hashModelFile, nodeLlamaCppVersion } from './model-file-hash.ts';
import { type Utf8State, Utf8TokenGuard } from './utf8-token-guard.ts';

interface ModelEntry {
  spec: ModelSpec;
  model: LlamaModel;
  context: LlamaContext;
  /** One sequence per slot; index = slot. */
  sequences: LlamaContextSequence[];
  busy: boolean[];
  embeddingContext: LlamaEmbeddingContext;
  /** Embeddings run one at a time on the single embedding sequence. */
  embedChain: Promise<unknown>;
  loaded: LoadedModel;
  /** Bans tokens that would write invalid UTF-8; undefined when the vocabulary cannot. */
  utf8: Utf8Biases | undefined;
}

/** A model's UTF-8 guard and the token bias of each state it has met (a handful). */
interface Utf8Biases {
  guard: Utf8TokenGuard;
  biases: Map<readonly number[], TokenBias>;
}

const MAX_CACHED_GRAMMARS = 32;
/** Longest byte sequence a UTF-8 character spans; pending tokens are flushed past it regardless. */
const MAX_PENDING_TOKENS = 4;
const REPLACEMENT_CHARACTER = '\uFFFD';

/**
 * What the worker process does with llama.cpp: models (one context per model with one sequence
 * per slot), generation with prefix reuse, JSON-schema grammars and embeddings.
 *
 * Invariant: a slot's sequence holds exactly the tokens of its last request (prompt + generated,
 * minus the final token that was sampled but never evaluated), so the next request on that slot
 * can skip its common leading tokens.
 */
export class LlamaEngine {
  readonly #llama: Llama;
  readonly #contextThreads: number;
  readonly #models = new Map<string, ModelEntry>();
  readonly #loading = new Map<string, Promise<LoadedModel>>();
  readonly #grammars = new Map<string, Promise<LlamaGrammar>>();
  #version: string | undefined;

  constructor(llama: Llama, contextThreads: number) {
    this.#llama = llama;
    this.#contextThreads = contextThreads;
  }

  get gpu(): string | false {
    return this.#llama.gpu;
  }

  #gpuLayersFor(spec: ModelSpec, insights: GgufInsights): number {
    if (this.#llama.gpu === false) return 0;
    // Estimating 'auto' as a full offload gives an upper bound; the loaded model reports what it took.
    return spec.gpuLayers === 'auto' ? insights.totalLayers : Math.min(spec.gpuLayers, insights.totalLayers);
  }

  #estimate(spec: ModelSpec, insights: GgufInsights, gpuLayers: number): number {
    const model = insights.estimateModelResourceRequirements({ gpuLayers });
    const context = insights.estimateContextResourceRequirements({
      contextSize: spec.contextSize,
      sequences: spec.slots,
      modelGpuLayers: gpuLayers,
    });
    const embedding = insights.estimateContextResourceRequirements({
      contextSize: spec.contextSize,
      sequences: 1,
      modelGpuLayers: gpuLayers,
      isEmbeddingContext: true,
    });
    const onGpu = this.#llama.gpu !== false && gpuLayers > 0;
    const pick = (requirement: { cpuRam: number; gpuVram: number }): number =>
      onGpu ? requirement.gpuVram : requirement.cpuRam;
    return Math.ceil(pick(model) + pick(context) + pick(embedding));
  }

  async estimateModelMemory(spec: ModelSpec): Promise<number> {
    const insights = await checkModelFile(this.#llama, spec.path);
    return this.#estimate(spec, insights, this.#gpuLayersFor(spec, insights));
  }

  async loadModel(spec: ModelSpec, onProgress?: (progress: number) => void): Promise<LoadedModel> {
    const existing = this.#models.get(spec.id);
    if (existing !== undefined) return this.#sameModel(existing.spec, spec, existing.loaded);
    const pending = this.#loading.get(spec.id);
    if (pending !== undefined) return pending;
    const loading = this.#load(spec, onProgress).finally(() => this.#loading.delete(spec.id));
    this.#loading.set(spec.id, loading);
    return loading;
  }

  #sameModel(loadedSpec: ModelSpec, spec: ModelSpec, loaded: LoadedModel): LoadedModel {
    if (
      loadedSpec.path !== spec.path ||
      loadedSpec.slots !== spec.slots ||
      loadedSpec.contextSize !== spec.contextSize
    ) {
      throw new ClawError(
        'CONFLICT',
        `Model \`${spec.id}\` is already loaded from ${loadedSpec.path} (${loadedSpec.slots} slots, context ${loadedSpec.contextSize}); unload it before loading it with another spec`,
        { retryable: false, details: { modelId: spec.id } },
      );
    }
    return loaded;
  }

  async #load(spec: ModelSpec, onProgress: ((progress: number) => void) | undefined): Promise<LoadedModel> {
    const insights = await checkModelFile(this.#llama, spec.path);
    const gpuLayers = this.#llama.gpu === false ? 0 : spec.gpuLayers;
    // Hashed while llama.cpp loads the same file: the load waits for whichever takes longer.
    const hashing = hashModelFile(spec.path);
    hashing.catch(() => {});
    let model: LlamaModel;
    let fileSha256: string;
    try {
      model = await this.#llama.loadModel({
        modelPath: spec.path,
        gpuLayers,
        ...(onProgress === undefined ? {} : { onLoadProgress: onProgress }),
      });
    } catch (error) {
      throw new ClawError(
        'MODEL_INVALID',
        `Model file ${spec.path} failed to load: ${error instanceof Error ? error.message : String(error)}`,
        { details: { path: spec.path }, cause: error },
      );
    }
    try {
      fileSha256 = await hashing;
    } catch (error) {
      await model.dispose();
      throw error;
    }
    try {
      const context = await model.createContext({
        contextSize: spec.contextSize,
        sequences: spec.slots,
        threads: this.#contextThreads,
      });
      const sequences = Array.from({ length: spec.slots }, () => context.getSequence());
      const embeddingContext = await model.createEmbeddingContext({
        contextSize: spec.contextSize,
        threads: this.#contextThreads,
      });
      const loaded: LoadedModel = {
        id: spec.id,
        fileSha256,
        engine: {
          name: 'node-llama-cpp',
          version: await this.#engineVersion(),
          backend: this.#llama.gpu === false ? 'cpu' : this.#llama.gpu,
          threads: this.#contextThreads,
        },
        memoryBytes: this.#estimate(spec, insights, model.gpuLayers),
        embeddingSize: model.embeddingVectorSize,
        slots: spec.slots,
        contextSize: spec.contextSize,
      };
      this.#models.set(spec.id, {
        spec,
        model,
        context,
        sequences,
        busy: sequences.map(() => false),
        embeddingContext,
        embedChain: Promise.resolve(),
        loaded,
        utf8: utf8BiasesFor(model),
      });
      return loaded;
    } catch (error) {
      await model.dispose();
      throw new ClawError(
        'INSUFFICIENT_MEMORY',
        `Model ${spec.id} (${spec.path}) loaded but its contexts could not be created: ${error instanceof Error ? error.message : String(error)}`,
        { details: { path: spec.path }, cause: error },
      );
    }
  }

  async #engineVersion(): Promise<string> {
    this.#version ??= await nodeLlamaCppVersion();
    return this.#version;
  }

  async unloadModel(modelId: string): Promise<void> {
    const entry = this.#models.get(modelId);
    if (entry === undefined) return;
    this.#models.delete(modelId);
    await entry.embeddingContext.dispose();
    await entry.context.dispose();
    await entry.model.dispose();
  }

  #entry(modelId: string): ModelEntry {
    const entry = this.#models.get(modelId);
    if (entry === undefined) {
      throw new ClawError('NOT_FOUND', `Model \`${modelId}\` is not loaded`, { details: { modelId } });
    }
    return entry;
  }

  async #grammarFor(schema: Record<string, unknown>): Promise<LlamaGrammar> {
    const key = JSON.stringify(schema);
    let grammar = this.#grammars.get(key);
    if (grammar === undefined) {
      grammar = // The schema type is structural and deep; node-llama-cpp checks the value itself when it builds the grammar.
        this.#llama.createGrammarForJsonSchema(schema as never).catch((error: unknown) => {
          this.#grammars.delete(key);
          throw new ClawError(
            'INVALID_PARAMS',
            `Expected \`jsonSchema\` to be a JSON schema node-llama-cpp can turn into a grammar: ${error instanceof Error ? error.message : String(error)}`,
            { cause: error },
          );
        });
      if (this.#grammars.size >= MAX_CACHED_GRAMMARS) {
        const oldest = this.#grammars.keys().next().value;
        if (oldest !== undefined) this.#grammars.delete(oldest);
      }
      this.#grammars.set(key, grammar);
    }
    return grammar;
  }

  async generate(
    request: GenerateRequest,
    signal: AbortSignal,
    onDelta: (text: string) => void,
  ): Promise<GenerateResult> {
    const entry = this.#entry(request.modelId);
    const { slot } = request;
    const sequence = entry.sequences[slot];
    if (sequence === undefined) {
      throw new ClawError('INVALID_PARAMS', `Expected \`slot\` to be 0-${entry.spec.slots - 1}, got ${slot}`, {
        details: { field: 'slot' },
      });
    }
    if (entry.busy[slot]) {
      throw new ClawError('CONFLICT', `Slot ${slot} of model \`${request.modelId}\` is already generating`, {
        retryable: false,
        details: { modelId: request.modelId, slot },
      });
    }
    entry.busy[slot] = true;
    try {
      return await this.#generateOn(entry, sequence, request, signal, onDelta);
    } finally {
      entry.busy[slot] = false;
    }
  }

  async #generateOn(
    entry: ModelEntry,
    sequence: LlamaContextSequence,
    request: GenerateRequest,
    signal: AbortSignal,
    onDelta: (text: string) => void,
  ): Promise<GenerateResult> {
    const started = performance.now();
    const { model } = entry;
    const characters = request.prompt.length + (request.prefix?.length ?? 0);
    const limit = maxPromptCharacters(entry.spec.contextSize);
    if (characters > limit) {
      throw new ClawError(
        'INVALID_PARAMS',
        `Expected \`prefix\` and \`prompt\` together to be at most ${limit} characters (context ${entry.spec.contextSize} tokens), got ${characters}`,
        { details: { field: 'prompt', maxCharacters: limit, characters } },
      );
    }
    const grammar = request.jsonSchema === undefined ? undefined : await this.#grammarFor(request.jsonSchema);
    // Prefix and prompt are tokenized apart so the prefix's tokens do not depend on what follows it:
    // that is what lets the next request with the same prefix match them exactly. Token arrays are
    // concatenated, never spread into arguments (a long prompt would overflow the call stack).
    let input: Token[] = model.tokens.bos !== null && model.tokens.shouldPrependBosToken ? [model.tokens.bos] : [];
    if (request.prefix !== undefined && request.prefix.length > 0) input = input.concat(model.tokenize(request.prefix));
    input = input.concat(model.tokenize(request.prompt));
    if (input.length === 0) {
      throw new ClawError('INVALID_PARAMS', 'Expected `prompt` or `prefix` to hold at least one token, got none');
    }
    if (input.length >= entry.spec.contextSize) {
      throw new ClawError(
        'INVALID_PARAMS',
        `Expected the prompt to fit the context: it is ${input.length} tokens, the slot holds ${entry.spec.contextSize}`,
        { details: { tokens: input.length, contextSize: entry.spec.contextSize } },
      );
    }

    // Keep the common leading tokens; at least one token must be evaluated to get next-token logits.
    let reused = Math.min(sequence.compareContextTokens(input).firstDifferentIndex, input.length - 1);
    if (sequence.nextTokenIndex > reused) {
      await sequence.eraseContextTokenRanges([{ start: reused, end: sequence.nextTokenIndex }]);
      // An erase that cannot keep the cached state (not the case for plain llama models) restarts the slot.
      if (sequence.nextTokenIndex !== reused) reused = sequence.nextTokenIndex;
    }
    const budget = Math.min(request.sampling.maxTokens, entry.spec.contextSize - input.length);

    const generated: Token[] = [];
    const pending: Token[] = [];
    // The character in progress: the next token may only continue it validly (or start a new one).
    let utf8State: Utf8State = null;
    const utf8 = entry.utf8;
    let text = '';
    let stopReason: GenerateResult['stopReason'] = 'eos';
    const emit = (force: boolean): void => {
      if (pending.length === 0) return;
      const chunk = model.detokenize(pending, false, generated.slice(-pending.length - 8, -pending.length));
      // A character split across byte tokens decodes as U+FFFD until its last byte arrives.
      if (!force && chunk.endsWith(REPLACEMENT_CHARACTER) && pending.length < MAX_PENDING_TOKENS) return;
      pending.length = 0;
      if (chunk.length === 0) return;
      text += chunk;
      onDelta(chunk);
    };

    if (signal.aborted) {
      stopReason = 'aborted';
    } else {
      const iterator = sequence.evaluate(input.slice(reused), {
        temperature: request.sampling.temperature ?? 0,
        ...(request.sampling.topP === undefined ? {} : { topP: request.sampling.topP }),
        ...(request.sampling.seed === undefined ? {} : { seed: request.sampling.seed }),
        ...(grammar === undefined
          ? {}
          : { grammarEvaluationState: new LlamaGrammarEvaluationState({ model, grammar }) }),
        // Called before each token is sampled, after the previous one went through the loop below.
        ...(utf8 === undefined ? {} : { tokenBias: () => utf8BiasFor(model, utf8, utf8State) }),
      });
      for await (const token of iterator) {
        if (utf8 !== undefined) utf8State = utf8.guard.next(utf8State, token);
        generated.push(token);
        pending.push(token);
        emit(false);
        if (signal.aborted) {
          stopReason = 'aborted';
          break;
        }
        if (generated.length >= budget) {
          stopReason = 'max-tokens';
          break;
        }
      }
    }
    emit(true);
    if (grammar !== undefined && stopReason === 'eos') text = text.trimEnd();
    return {
      text,
      tokensIn: input.length,
      tokensOut: generated.length,
      tokensReused: reused,
      generateMs: performance.now() - started,
      stopReason,
      outputTokens: generated.map(Number),
    };
  }

  async embed(modelId: string, texts: readonly string[], signal: AbortSignal): Promise<EmbedResult> {
    const entry = this.#entry(modelId);
    const limit = maxPromptCharacters(entry.spec.contextSize);
    for (const [index, text] of texts.entries()) {
      if (text.length > limit) {
        throw new ClawError(
          'INVALID_PARAMS',
          `Expected \`texts[${index}]\` to be at most ${limit} characters (context ${entry.spec.contextSize} tokens), got ${text.length}`,
        );
      }
    }
    // The pool's embedding lane runs one request per model at a time; the chain only guards
    // direct callers of the backend.
    const run = entry.embedChain.then(async () => {
      const vectors: number[][] = [];
      let tokensIn = 0;
      for (const text of texts) {
        if (signal.aborted) throw new ClawError('CANCELLED', 'The embedding request was cancelled');
        const tokens = entry.model.tokenize(text);
        tokensIn += tokens.length;
        if (tokens.length >= entry.spec.contextSize) {
          throw new ClawError(
            'INVALID_PARAMS',
            `Expected each text to fit the context: one is ${tokens.length} tokens, the context holds ${entry.spec.contextSize}`,
          );
        }
        const embedding = await entry.embeddingContext.getEmbeddingFor(text);
        vectors.push(Array.from(embedding.vector));
      }
      return { vectors, tokensIn };
    });
    entry.embedChain = run.catch(() => undefined);
    return run;
  }

  async memoryState(): Promise<MemoryState> {
    if (this.#llama.gpu !== false) {
      const vram = await this.#llama.getVramState();
      return { totalBytes: vram.total, freeBytes: vram.free };
    }
    const ram = await this.#llama.getRamState();
    return { totalBytes: ram.total || totalmem(), freeBytes: Math.min(ram.free, ram.total || totalmem()) };
  }

  async dispose(): Promise<void> {
    for (const modelId of [...this.#models.keys()]) await this.unloadModel(modelId);
    await this.#llama.dispose();
  }
}

/** The UTF-8 guard of a model whose vocabulary can write invalid UTF-8 (byte tokens, byte-level BPE). */
function utf8BiasesFor(model: LlamaModel): Utf8Biases | undefined {
  const tokenizer = model.fileInfo.metadata.tokenizer?.ggml;
  if (tokenizer === undefined || !Array.isArray(tokenizer.tokens) || tokenizer.tokens.length === 0) return undefined;
  const guard = new Utf8TokenGuard({
    pieces: tokenizer.tokens,
    types: Array.isArray(tokenizer.token_type) ? tokenizer.token_type : undefined,
    vocabulary: model.vocabularyType,
  });
  return guard.needed ? { guard, biases: new Map() } : undefined;
}

function utf8BiasFor(model: LlamaModel, utf8: Utf8Biases, state: Utf8State): TokenBias {
  const banned = utf8.guard.banned(state);
  let bias = utf8.biases.get(banned);
  if (bias === undefined) {
    bias = new TokenBias(model.tokenizer);
    for (const token of banned) bias.set(token as Token, 'never');
    utf8.biases.set(banned, bias);
  }
  return bias;
}
