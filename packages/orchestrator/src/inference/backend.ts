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

export interface LoadedModel {
  id: string;
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
}

export interface GenerateCallbacks {
  signal?: AbortSignal;
  /** Called with each chunk of generated text as it is produced. */
  onDelta?: (text: string) => void;
}

export interface MemoryState {
  totalBytes: number;
  freeBytes: number;
}

export interface InferenceBackend {
  /** Bytes the model would need loaded with this spec, without loading it. Throws MODEL_NOT_FOUND / MODEL_INVALID. */
  estimateModelMemory(spec: ModelSpec): Promise<number>;
  loadModel(spec: ModelSpec, signal?: AbortSignal): Promise<LoadedModel>;
  unloadModel(modelId: string): Promise<void>;
  generate(request: GenerateRequest, callbacks?: GenerateCallbacks): Promise<GenerateResult>;
  embed(modelId: string, texts: string[], signal?: AbortSignal): Promise<number[][]>;
  /** What the device (VRAM, or RAM on CPU) reports now. */
  memoryState(): Promise<MemoryState>;
  dispose(): Promise<void>;
}
