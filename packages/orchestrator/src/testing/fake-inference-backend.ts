import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { ClawError, describeValue } from '@clawfleet/protocol';
import type {
  EmbedResult,
  GenerateCallbacks,
  GenerateRequest,
  GenerateResult,
  InferenceBackend,
  LoadedModel,
  LoadModelOptions,
  MemoryState,
  ModelSpec,
} from '../inference/backend.ts';

export type FakeOperation = 'estimate' | 'load' | 'generate' | 'embed';

export interface FakeBackendOptions {
  /**
   * Bytes a model holds when loaded, by model id or computed from its spec.
   * @default 64 MiB + 8 MiB per slot
   */
  memoryBytes?: Record<string, number> | ((spec: ModelSpec) => number);
  /** What `memoryState()` reports as the device total. @default 8 GiB */
  totalMemoryBytes?: number;
  /**
   * Milliseconds per generated token. 0 yields to the event loop once every 16 tokens instead of
   * sleeping, so thousands of fake generations stay fast.
   * @default 0
   */
  millisecondsPerToken?: number;
  /** Milliseconds a load takes. @default 0 */
  loadMilliseconds?: number;
  /** Embedding vector length. @default 16 */
  embeddingSize?: number;
  /** When false, a model path is not checked on disk (for pool tests that invent models). @default true */
  checkPaths?: boolean;
  /**
   * Tokens of text a generation produces before its end of sequence (JSON output excepted).
   * @default 8-70, derived from the prompt
   */
  outputTokens?: number;
}

/** What the fake observed; tests assert the pool's invariants on it. */
export interface FakeBackendStatistics {
  loads: number;
  unloads: number;
  generations: number;
  /** Highest sum of loaded models' memory seen at any time. */
  peakLoadedBytes: number;
  /** Highest number of generations running at once. */
  peakConcurrentGenerations: number;
  /** Generations refused because their slot was busy: the pool must keep this at 0. */
  busySlotConflicts: number;
  embeddings: number;
  /** Highest number of embedding requests running at once. */
  peakConcurrentEmbeddings: number;
}

interface FakeModel {
  spec: ModelSpec;
  loaded: LoadedModel;
  busySlots: Set<number>;
  /** Prefix each slot holds evaluated, as the real backend keeps it in the sequence. */
  slotPrefixes: Map<number, string>;
}

/**
 * An in-process {@link InferenceBackend}: one token per character, deterministic text from the
 * prompt (and seed), configurable memory per model, latency per token and injected failures. It
 * passes the backend contract suite, and counts what the slot pool must never do (a second
 * generation on a busy slot, loaded memory above the budget).
 */
export class FakeInferenceBackend implements InferenceBackend {
  readonly statistics: FakeBackendStatistics = {
    loads: 0,
    unloads: 0,
    generations: 0,
    peakLoadedBytes: 0,
    peakConcurrentGenerations: 0,
    busySlotConflicts: 0,
    embeddings: 0,
    peakConcurrentEmbeddings: 0,
  };
  /** Bytes used on the device by something other than this backend's models. */
  externalUsedBytes = 0;

  readonly #options: Required<Omit<FakeBackendOptions, 'memoryBytes' | 'outputTokens'>> &
    Pick<FakeBackendOptions, 'memoryBytes' | 'outputTokens'>;
  readonly #models = new Map<string, FakeModel>();
  readonly #failures = new Map<FakeOperation, ClawError[]>();
  #running = 0;
  #embedding = 0;
  #disposed = false;
  #gate: Gate | undefined;
  #embedGate: Gate | undefined;

  constructor(options: FakeBackendOptions = {}) {
    this.#options = {
      memoryBytes: options.memoryBytes,
      totalMemoryBytes: options.totalMemoryBytes ?? 8 * 1024 ** 3,
      millisecondsPerToken: options.millisecondsPerToken ?? 0,
      loadMilliseconds: options.loadMilliseconds ?? 0,
      embeddingSize: options.embeddingSize ?? 16,
      checkPaths: options.checkPaths ?? true,
      outputTokens: options.outputTokens,
    };
  }

  /** The next `times` calls of `operation` reject with `error`. */
  injectFailure(operation: FakeOperation, error: ClawError, times = 1): void {
    const queue = this.#failures.get(operation) ?? [];
    for (let index = 0; index < times; index++) queue.push(error);
    this.#failures.set(operation, queue);
  }

  /** Generations started from now on wait, before their first token, until {@link openGate}. */
  closeGate(): void {
    this.#gate ??= createGate();
  }

  openGate(): void {
    const gate = this.#gate;
    this.#gate = undefined;
    gate?.open();
  }

  /** Embedding requests started from now on wait until {@link openEmbeddingGate}. */
  closeEmbeddingGate(): void {
    this.#embedGate ??= createGate();
  }

  openEmbeddingGate(): void {
    const gate = this.#embedGate;
    this.#embedGate = undefined;
    gate?.open();
  }

  /** Embedding requests running now. */
  get runningEmbeddings(): number {
    return this.#embedding;
  }

  /** Ids of the models loaded now. */
  loadedModelIds(): string[] {
    return [...this.#models.keys()];
  }

  /** Generations running now. */
  get runningGenerations(): number {
    return this.#running;
  }

  async estimateModelMemory(spec: ModelSpec): Promise<number> {
    this.#assertOpen();
    this.#takeFailure('estimate');
    await this.#checkPath(spec);
    return this.#memoryOf(spec);
  }

  async loadModel(spec: ModelSpec, options: LoadModelOptions = {}): Promise<LoadedModel> {
    const { signal, onProgress } = options;
    this.#assertOpen();
    const existing = this.#models.get(spec.id);
    if (existing !== undefined) {
      if (existing.spec.path !== spec.path) {
        throw new ClawError(
          'CONFLICT',
          `Model \`${spec.id}\` is loaded from ${existing.spec.path}, not ${describeValue(spec.path)}`,
        );
      }
      return { ...existing.loaded };
    }
    this.#takeFailure('load');
    await this.#checkPath(spec);
    onProgress?.(0);
    if (this.#options.loadMilliseconds > 0) await sleep(this.#options.loadMilliseconds);
    onProgress?.(1);
    if (signal?.aborted) throw new ClawError('CANCELLED', `Loading model \`${spec.id}\` was cancelled`);
    this.#assertOpen();
    const raced = this.#models.get(spec.id);
    if (raced !== undefined) return { ...raced.loaded };
    const loaded: LoadedModel = {
      id: spec.id,
      // The fake reads no weights: its "file" is its path, so two paths are two models.
      fileSha256: createHash('sha256').update(`fake-model:${spec.path}`).digest('hex'),
      engine: { name: 'fake', version: '1', backend: 'fake', threads: 1 },
      memoryBytes: this.#memoryOf(spec),
      embeddingSize: this.#options.embeddingSize,
      slots: spec.slots,
      contextSize: spec.contextSize,
    };
    this.#models.set(spec.id, { spec, loaded, busySlots: new Set(), slotPrefixes: new Map() });
    this.statistics.loads++;
    this.statistics.peakLoadedBytes = Math.max(this.statistics.peakLoadedBytes, this.#loadedBytes());
    return { ...loaded };
  }

  async unloadModel(modelId: string): Promise<void> {
    this.#assertOpen();
    if (this.#models.delete(modelId)) this.statistics.unloads++;
  }

  async generate(request: GenerateRequest, callbacks: GenerateCallbacks = {}): Promise<GenerateResult> {
    this.#assertOpen();
    const model = this.#requireModel(request.modelId);
    if (!Number.isInteger(request.slot) || request.slot < 0 || request.slot >= model.loaded.slots) {
      throw new ClawError(
        'INVALID_PARAMS',
        `Expected \`slot\` to be an integer 0-${model.loaded.slots - 1}, got ${describeValue(request.slot)}`,
      );
    }
    const maxTokens = request.sampling.maxTokens;
    if (!Number.isInteger(maxTokens) || maxTokens < 1) {
      throw new ClawError(
        'INVALID_PARAMS',
        `Expected \`maxTokens\` to be a positive integer, got ${describeValue(maxTokens)}`,
      );
    }
    if (callbacks.signal?.aborted) throw new ClawError('CANCELLED', 'The generation was cancelled before it started');
    if (model.busySlots.has(request.slot)) {
      this.statistics.busySlotConflicts++;
      throw new ClawError('CONFLICT', `Slot ${request.slot} of model \`${request.modelId}\` is busy`, {
        retryable: false,
      });
    }
    this.#takeFailure('generate');
    model.busySlots.add(request.slot);
    this.#running++;
    this.statistics.generations++;
    this.statistics.peakConcurrentGenerations = Math.max(this.statistics.peakConcurrentGenerations, this.#running);
    const started = performance.now();
    try {
      if (this.#gate !== undefined) await this.#gate.promise;
      const prefix = request.prefix ?? '';
      const kept = model.slotPrefixes.get(request.slot);
      const tokensReused = prefix.length > 0 && kept === prefix ? prefix.length : 0;
      model.slotPrefixes.set(request.slot, prefix);
      const output = this.#outputFor(request);
      let text = '';
      let stopReason: GenerateResult['stopReason'] = output.length > maxTokens ? 'max-tokens' : 'eos';
      const length = Math.min(output.length, maxTokens);
      for (let index = 0; index < length; index++) {
        if (callbacks.signal?.aborted || this.#disposed) {
          stopReason = 'aborted';
          break;
        }
        if (this.#options.millisecondsPerToken > 0) await sleep(this.#options.millisecondsPerToken);
        else if (index % 16 === 15) await yieldToEventLoop();
        if (callbacks.signal?.aborted || this.#disposed) {
          stopReason = 'aborted';
          break;
        }
        const piece = output[index] as string;
        text += piece;
        callbacks.onDelta?.(piece);
      }
      return {
        text,
        tokensIn: 1 + prefix.length + request.prompt.length,
        tokensOut: text.length,
        tokensReused,
        generateMs: performance.now() - started,
        stopReason,
        // One "token" per generated character: its code point.
        outputTokens: Array.from(text, (character) => character.codePointAt(0) as number),
      };
    } finally {
      model.busySlots.delete(request.slot);
      this.#running--;
    }
  }

  async embed(modelId: string, texts: string[], signal?: AbortSignal): Promise<EmbedResult> {
    this.#assertOpen();
    const model = this.#requireModel(modelId);
    if (signal?.aborted) throw new ClawError('CANCELLED', 'The embedding was cancelled before it started');
    this.#takeFailure('embed');
    this.statistics.embeddings++;
    this.#embedding++;
    this.statistics.peakConcurrentEmbeddings = Math.max(this.statistics.peakConcurrentEmbeddings, this.#embedding);
    try {
      if (this.#embedGate !== undefined) await this.#embedGate.promise;
      if (signal?.aborted) throw ClawError.from(signal.reason, 'CANCELLED');
    } finally {
      this.#embedding--;
    }
    const vectors = texts.map((text) => {
      const digest = createHash('sha256').update(text).digest();
      return Array.from(
        { length: model.loaded.embeddingSize },
        (_, index) => ((digest[index % digest.length] as number) - 127.5) / 127.5,
      );
    });
    // One token per character, as for generation.
    return { vectors, tokensIn: texts.reduce((sum, text) => sum + text.length, 0) };
  }

  async memoryState(): Promise<MemoryState> {
    this.#assertOpen();
    const total = this.#options.totalMemoryBytes;
    return { totalBytes: total, freeBytes: Math.max(0, total - this.#loadedBytes() - this.externalUsedBytes) };
  }

  async dispose(): Promise<void> {
    this.#disposed = true;
    this.openGate();
    this.openEmbeddingGate();
    this.#models.clear();
  }

  #outputFor(request: GenerateRequest): string {
    if (request.jsonSchema !== undefined) return JSON.stringify(minimalValueFor(request.jsonSchema));
    const seed =
      request.sampling.temperature !== undefined && request.sampling.temperature > 0 ? request.sampling.seed : 0;
    const digest = createHash('sha256')
      .update(`${seed ?? 'random'}|${request.prefix ?? ''}|${request.prompt}`)
      .digest();
    // Random seeds are not reproducible on the real backend either.
    const length =
      this.#options.outputTokens ??
      8 + ((digest[0] as number) % 56) + (seed === undefined ? Math.floor(Math.random() * 8) : 0);
    let text = '';
    for (let index = 0; index < length; index++)
      text += String.fromCharCode(97 + ((digest[index % 32] as number) % 26));
    return text;
  }

  #memoryOf(spec: ModelSpec): number {
    const configured = this.#options.memoryBytes;
    if (typeof configured === 'function') return configured(spec);
    if (configured !== undefined && configured[spec.id] !== undefined) return configured[spec.id] as number;
    return 64 * 1024 ** 2 + spec.slots * 8 * 1024 ** 2;
  }

  #loadedBytes(): number {
    let sum = 0;
    for (const model of this.#models.values()) sum += model.loaded.memoryBytes;
    return sum;
  }

  #requireModel(modelId: string): FakeModel {
    const model = this.#models.get(modelId);
    if (model === undefined) throw new ClawError('NOT_FOUND', `Model \`${modelId}\` is not loaded`);
    return model;
  }

  async #checkPath(spec: ModelSpec): Promise<void> {
    if (!this.#options.checkPaths) return;
    try {
      const info = await stat(spec.path);
      if (!info.isFile()) throw new ClawError('MODEL_INVALID', `Model file ${spec.path} is not a regular file`);
    } catch (error) {
      if (error instanceof ClawError) throw error;
      throw new ClawError('MODEL_NOT_FOUND', `Model file ${spec.path} does not exist`, { cause: error });
    }
  }

  #takeFailure(operation: FakeOperation): void {
    const error = this.#failures.get(operation)?.shift();
    if (error !== undefined) throw error;
  }

  #assertOpen(): void {
    if (this.#disposed) throw new ClawError('SHUTTING_DOWN', 'The inference backend is disposed');
  }
}

/** The smallest value matching the subset of JSON schema that grammars support. */
function minimalValueFor(schema: Record<string, unknown>): unknown {
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum)) return schema.enum[0];
  if (Array.isArray(schema.oneOf) && isRecord(schema.oneOf[0])) return minimalValueFor(schema.oneOf[0]);
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'object': {
      const properties = isRecord(schema.properties) ? schema.properties : {};
      const required = Array.isArray(schema.required) ? schema.required : Object.keys(properties);
      const value: Record<string, unknown> = {};
      for (const key of required) {
        const property = properties[key as string];
        value[key as string] = isRecord(property) ? minimalValueFor(property) : null;
      }
      return value;
    }
    case 'array': {
      const minItems = typeof schema.minItems === 'number' ? schema.minItems : 0;
      const items = isRecord(schema.items) ? schema.items : {};
      return Array.from({ length: minItems }, () => minimalValueFor(items));
    }
    case 'string':
      return 'x'.repeat(typeof schema.minLength === 'number' ? schema.minLength : 1);
    case 'integer':
    case 'number':
      return typeof schema.minimum === 'number' ? schema.minimum : 0;
    case 'boolean':
      return false;
    default:
      return null;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

interface Gate {
  promise: Promise<void>;
  open: () => void;
}

function createGate(): Gate {
  let open = (): void => {};
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

function sleep(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
