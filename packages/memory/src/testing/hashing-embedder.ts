import { type Embedder, type EmbeddingModel, type EmbedOptions, normalize } from '../embedding/embedder.ts';

export interface HashingEmbedderOptions {
  /** @default 256 */
  dimensions?: number;
}

const WORD = /[\p{L}\p{N}]+/gu;

/** 32-bit FNV-1a. */
function hash(text: string): number {
  let value = 0x811c9dc5;
  for (let index = 0; index < text.length; index++) {
    value ^= text.charCodeAt(index);
    value = Math.imul(value, 0x01000193);
  }
  return value >>> 0;
}

/**
 * A deterministic embedder for tests and benchmarks: each word and each of its character trigrams is
 * hashed into a signed bucket ("feature hashing"). Texts sharing words or word stems ("deploy",
 * "deployment") get similar vectors, without any model. It is not semantic: it stands in for a real
 * embedding model where the generated tiny model's random vectors would make ranking untestable.
 */
export class HashingEmbedder implements Embedder {
  readonly id: string;
  readonly dimensions: number;

  constructor(options: HashingEmbedderOptions = {}) {
    this.dimensions = options.dimensions ?? 256;
    this.id = `hashing-${this.dimensions}`;
  }

  async embed(texts: readonly string[], options: EmbedOptions = {}): Promise<Float32Array[]> {
    options.signal?.throwIfAborted();
    return texts.map((text) => this.embedOne(text));
  }

  async model(): Promise<EmbeddingModel> {
    return { key: this.id, dimensions: this.dimensions };
  }

  /** The synchronous core, for benchmarks that build large indexes. */
  embedOne(text: string): Float32Array {
    const vector = new Float32Array(this.dimensions);
    const add = (feature: string, weight: number) => {
      const bucket = hash(feature);
      vector[bucket % this.dimensions]! += bucket & 0x80000000 ? -weight : weight;
    };
    for (const [word] of text.toLowerCase().matchAll(WORD)) {
      add(`w:${word}`, 1);
      const padded = `^${word}$`;
      for (let index = 0; index + 3 <= padded.length; index++) add(`t:${padded.slice(index, index + 3)}`, 0.5);
    }
    return normalize(vector);
  }
}
