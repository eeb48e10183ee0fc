/**
 * The port between the slot pool and whatever runs the model. Two implementations pass one
 * contract suite (`describeInferenceBackendContract`): the real one, which talks to a supervised
 * worker child process running node-llama-cpp, and an in-process fake for slot-pool tests.
 *
 * The backend does not queue or prioritise: the slot pool decides which request runs on which
 * slot and when. A backend call for a slot that is already busy is a programming error.
 */

export interface ModelSpec {
  /** Stable id chosen by config, e.g. `tiny` or `qwen-7b`; used in requests and accounting. */
  id: string;
  /** Absolute path to a GGUF file. */
  path: string;
  /** Context size per slot (sequence), in tokens. */
  contextSize: number;
  /** Number of parallel sequences (slots) the model's context is created with. */
  slots: number;
  /** Layers to offload to the GPU; `auto` lets node-llama-cpp decide; 0 on CPU. */
  gpuLayers: 'auto' | number;
}

/** What runs a model: a replay is identical only on the same engine, version, backend and threads. */
export interface InferenceEngineInfo {
  /** e.g. `node-llama-cpp` */
  name: string;
  version: string;
  /** `cpu`, `cuda`, `metal`, `vulkan` (or `fake` in tests). */
  backend: string;
  /** Threads the engine computes with. */
  threads: number;
}

export interface LoadedModel {
  id: string;
  /** sha256 (hex) of the model file, computed once per load: what a replay checks it runs the same weights. */
  fileSha256: string;
  engine: InferenceEngineInfo;
  /** Bytes of RAM or VRAM this model holds while loaded (weights + contexts), as estimated or measured. */
  memoryBytes: number;
  /** Embedding vector length. */
  embeddingSize: number;
  slots: number;
  contextSize: number;
}

export interface SamplingOptions {
  /** @default 0 (greedy) */
  temperature?: number;
  topP?: number;
  seed?: number;
  /** Hard cap on generated tokens. */
  maxTokens: number;
}

export interface GenerateRequest {
  modelId: string;
  /** Slot index 0..slots-1, chosen by the pool. */
  slot: number;
  /**
   * A stable prefix (identity and memory prelude). The backend keeps it evaluated in the slot's
   * sequence and evaluates only what differs when the next request on that slot shares it.
   */
  prefix?: string;
  /** The text after the prefix. */
  prompt: string;
  sampling: SamplingOptions;
  /** When set, output is constrained by a JSON-schema grammar and must parse. */
  jsonSchema?: Record<string, unknown>;
}

export interface GenerateResult {
  text: string;
  tokensIn: number;
  tokensOut: number;
  /** Prompt tokens that were not evaluated again thanks to the kept prefix. */
  tokensReused: number;
  /** Milliseconds spent evaluating the prompt and generating. */
  generateMs: number;
  stopReason: 'eos' | 'max-tokens' | 'aborted';
  /** The generated token ids, in order, when the backend knows them (recorded for replay). */
  outputTokens?: number[];
}

export interface GenerateCallbacks {
  signal?: AbortSignal;
  /** Called with each chunk of generated text as it is produced. */
  onDelta?: (text: string) => void;
}

export interface LoadModelOptions {
  /** Stops waiting for the load (llama.cpp cannot cancel one midway). */
  signal?: AbortSignal;
  /** Called with the load's progress, 0 to 1, as node-llama-cpp reports it. */
  onProgress?: (progress: number) => void;
}

export interface EmbedResult {
  /** One vector per text, in order, each of the model's `embeddingSize`. */
  vectors: number[][];
  /** Tokens evaluated over all texts (for accounting). */
  tokensIn: number;
}

/**
 * Characters a prompt may hold per token of context. Text is checked against
 * `contextSize × MAX_CHARACTERS_PER_TOKEN` before it is tokenized: no tokenizer in use averages
 * more than ~6 characters per token on real text, so a longer text cannot fit the context and is
 * refused without the cost (and, for megabytes, the stack) of tokenizing it.
 */
export const MAX_CHARACTERS_PER_TOKEN = 16;

/** The most characters (prefix and prompt together) a request on a context of this size may send. */
export function maxPromptCharacters(contextSize: number): number {
  return contextSize * MAX_CHARACTERS_PER_TOKEN;
}

export interface MemoryState {
  totalBytes: number;
  freeBytes: number;
}

export interface InferenceBackend {
  /** Bytes the model would need loaded with this spec, without loading it. Throws MODEL_NOT_FOUND / MODEL_INVALID. */
  estimateModelMemory(spec: ModelSpec): Promise<number>;
  loadModel(spec: ModelSpec, options?: LoadModelOptions): Promise<LoadedModel>;
  unloadModel(modelId: string): Promise<void>;
  generate(request: GenerateRequest, callbacks?: GenerateCallbacks): Promise<GenerateResult>;
  embed(modelId: string, texts: string[], signal?: AbortSignal): Promise<EmbedResult>;
  /** What the device (VRAM, or RAM on CPU) reports now. */
  memoryState(): Promise<MemoryState>;
  dispose(): Promise<void>;
}
