import type { InferenceClient } from '@clawfleet/inference-client';
import { ClawError, type InferencePriority } from '@clawfleet/protocol';

export interface EmbedOptions {
  signal?: AbortSignal;
}

/**
 * Turns texts into vectors for retrieval: the port between this package and the inference service.
 * Every vector of one embedder has the same length and unit L2 norm (so a dot product is the cosine),
 * and the same text always gives the same vector. Implementations: `InferenceEmbedder` (the real
 * one, `inference.embed`) and `HashingEmbedder` (deterministic, for tests and benchmarks,
 * `@clawfleet/memory/testing`); both pass `describeEmbedderContract`.
 */
export interface Embedder {
  /** Names the model, so vectors of two embedders are never mixed in one index. */
  readonly id: string;
  /** One vector per text, in order. Rejects with the inference service's ClawError. */
  embed(texts: readonly string[], options?: EmbedOptions): Promise<Float32Array[]>;
  /**
   * The model the vectors come from, as far as stored vectors are concerned: vectors saved under one
   * `key` and `dimensions` are reused only while both are the same (for a real model the key holds
   * its file's sha256, so pointing a config id at another file invalidates them).
   */
  model(options?: EmbedOptions): Promise<EmbeddingModel>;
}

export interface EmbeddingModel {
  readonly key: string;
  readonly dimensions: number;
}

/** Scales `vector` to unit length in place; a zero vector stays zero. */
export function normalize(vector: Float32Array): Float32Array {
  let sum = 0;
  for (let index = 0; index < vector.length; index++) sum += vector[index]! * vector[index]!;
  if (sum === 0) return vector;
  const scale = 1 / Math.sqrt(sum);
  for (let index = 0; index < vector.length; index++) vector[index]! *= scale;
  return vector;
}

export interface InferenceEmbedderOptions {
  inference: Pick<InferenceClient, 'embed'>;
  /** Priority class of the embedding requests. @default `reflect` (below triage and act) */
  priority?: InferencePriority;
  /** Names the model in `id`. @default `inference` */
  model?: string;
}

/** Embeddings from the orchestrator (`inference.embed`, the agent's embedding model). */
export class InferenceEmbedder implements Embedder {
  readonly id: string;
  readonly #inference: Pick<InferenceClient, 'embed'>;
  readonly #priority: InferencePriority;
  /** Learnt from the last answer: the model file's sha256 and the vectors' length. */
  #model: EmbeddingModel | undefined;

  constructor(options: InferenceEmbedderOptions) {
    this.#inference = options.inference;
    this.#priority = options.priority ?? 'reflect';
    this.id = options.model ?? 'inference';
  }

  async embed(texts: readonly string[], options: EmbedOptions = {}): Promise<Float32Array[]> {
    if (texts.length === 0) return [];
    const result = await this.#inference.embed([...texts], {
      priority: this.#priority,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    const dimensions = result.vectors[0]?.length ?? 0;
    if (dimensions > 0) this.#model = { key: `sha256:${result.modelSha256}`, dimensions };
    return result.vectors.map((vector) => {
      if (vector.length !== dimensions || dimensions === 0) {
        throw new ClawError(
          'INVALID_RESPONSE',
          `Expected embeddings of ${dimensions} dimensions, got ${vector.length}`,
        );
      }
      return normalize(Float32Array.from(vector));
    });
  }

  /** Known after any embedding; otherwise asks the service to embed one probe text. */
  async model(options: EmbedOptions = {}): Promise<EmbeddingModel> {
    if (this.#model === undefined) await this.embed(['embedding model probe'], options);
    if (this.#model === undefined) {
      throw new ClawError('INVALID_RESPONSE', 'The inference service answered the probe with no vector');
    }
    return this.#model;
  }
}
