import { ClawError } from '@clawfleet/protocol';
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

/**
 * What a script answers for one request: the text to return, or `undefined` to let the real
 * backend answer. A promise lets a test hold a request (an agent stays mid-act until released);
 * the request's abort still ends it.
 */
export type InferenceScript = (request: GenerateRequest) => string | undefined | Promise<string | undefined>;

/**
 * A layer in front of a real backend (the worker running the real model) that answers the requests
 * a script recognises and passes every other one through unchanged. End-to-end tests use it to
 * force one branch of an agent's loop (act, delegate) for a marked stimulus while the rest of the
 * system, other agents included, runs on the real model. Embeddings, loading and memory always go
 * to the real backend.
 */
export class ScriptedInferenceLayer implements InferenceBackend {
  readonly #inner: InferenceBackend;
  readonly #script: InferenceScript;
  /** Requests the script answered, in order (prompt head and reply), for assertions. */
  readonly answered: { prompt: string; text: string }[] = [];

  constructor(inner: InferenceBackend, script: InferenceScript) {
    this.#inner = inner;
    this.#script = script;
  }

  async generate(request: GenerateRequest, callbacks: GenerateCallbacks = {}): Promise<GenerateResult> {
    const started = performance.now();
    const scripted = this.#script(request);
    const text = scripted instanceof Promise ? await abortable(scripted, callbacks.signal) : scripted;
    if (text === undefined) return this.#inner.generate(request, callbacks);
    callbacks.signal?.throwIfAborted();
    this.answered.push({ prompt: request.prompt, text });
    callbacks.onDelta?.(text);
    return {
      text,
      tokensIn: Math.ceil(((request.prefix?.length ?? 0) + request.prompt.length) / 4),
      tokensOut: Math.ceil(text.length / 4),
      tokensReused: 0,
      generateMs: performance.now() - started,
      stopReason: 'eos',
    };
  }

  estimateModelMemory(spec: ModelSpec): Promise<number> {
    return this.#inner.estimateModelMemory(spec);
  }

  loadModel(spec: ModelSpec, options?: LoadModelOptions): Promise<LoadedModel> {
    return this.#inner.loadModel(spec, options);
  }

  unloadModel(modelId: string): Promise<void> {
    return this.#inner.unloadModel(modelId);
  }

  embed(modelId: string, texts: string[], signal?: AbortSignal): Promise<EmbedResult> {
    return this.#inner.embed(modelId, texts, signal);
  }

  memoryState(): Promise<MemoryState> {
    return this.#inner.memoryState();
  }

  dispose(): Promise<void> {
    return this.#inner.dispose();
  }
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new ClawError('CANCELLED', 'The scripted request was cancelled'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
