import { createRequire } from 'node:module';
import type { HierarchicalNSW } from 'hnswlib-node';
import type { VectorHit } from './vector-index.ts';

type HnswModule = { HierarchicalNSW: typeof HierarchicalNSW };
let hnswModule: HnswModule | Error | undefined;

/**
 * hnswlib-node is a native addon, loaded on first use only: processes that never index 20k vectors
 * (the CLI, most agents) never load it, and where it failed to build the index stays exact.
 */
export function loadHnsw(): HnswModule | Error {
  if (hnswModule === undefined) {
    try {
      hnswModule = createRequire(import.meta.url)('hnswlib-node') as HnswModule;
    } catch (error) {
      hnswModule = error instanceof Error ? error : new Error(String(error));
    }
  }
  return hnswModule;
}

export interface ApproximateVectorIndexOptions {
  /** Graph links per node (HNSW `M`). @default 16 */
  m?: number;
  /** Candidate list size while inserting. @default 64 */
  efConstruction?: number;
  /** Candidate list size while searching (at least the number of results asked for). @default 128 */
  ef?: number;
}

/**
 * Approximate nearest neighbours over unit vectors (inner product), for indexes too large to scan:
 * hnswlib-node, the Node binding of hnswlib (the reference HNSW implementation, Apache-2.0, about
 * 250k downloads a month), chosen because it inserts, updates and deletes points one at a time (the
 * memory index follows the bus subscription) and filters during the search (scope, tier, archived),
 * where pure-JS HNSW packages are little used and the vector databases are servers. Entry ids are
 * the labels.
 */
export class ApproximateVectorIndex {
  readonly dimensions: number;
  readonly #index: HierarchicalNSW;
  readonly #ef: number;
  /** Every label in the graph; deleted ones stay there (marked) until reused. */
  readonly #labels = new Set<number>();
  readonly #deleted = new Set<number>();
  #capacity = 1_024;
  #size = 0;

  constructor(dimensions: number, options: ApproximateVectorIndexOptions = {}) {
    this.dimensions = dimensions;
    this.#ef = options.ef ?? 128;
    const hnsw = loadHnsw();
    if (hnsw instanceof Error) throw hnsw;
    this.#index = new hnsw.HierarchicalNSW('ip', dimensions);
    this.#index.initIndex({
      maxElements: this.#capacity,
      m: options.m ?? 16,
      efConstruction: options.efConstruction ?? 64,
      randomSeed: 42,
    });
  }

  get size(): number {
    return this.#size;
  }

  /** Adds or replaces the vector of `id`. */
  set(id: number, vector: Float32Array): void {
    if (this.#deleted.delete(id)) {
      this.#index.unmarkDelete(id);
      this.#size++;
    } else if (!this.#labels.has(id)) {
      if (this.#labels.size >= this.#capacity) {
        this.#capacity *= 2;
        this.#index.resizeIndex(this.#capacity);
      }
      this.#labels.add(id);
      this.#size++;
    }
    this.#index.addPoint(Array.from(vector), id);
  }

  delete(id: number): void {
    if (!this.#labels.has(id) || this.#deleted.has(id)) return;
    this.#index.markDelete(id);
    this.#deleted.add(id);
    this.#size--;
  }

  /** About the `limit` most similar vectors that pass `accept`, best first. */
  search(query: Float32Array, limit: number, accept: (id: number) => boolean): VectorHit[] {
    if (this.#size === 0 || limit <= 0) return [];
    const wanted = Math.min(limit, this.#size);
    this.#index.setEf(Math.max(this.#ef, wanted));
    const result = this.#index.searchKnn(
      Array.from(query),
      wanted,
      (label) => !this.#deleted.has(label) && accept(label),
    );
    return result.neighbors.map((id, index) => ({ id, similarity: 1 - result.distances[index]! }));
  }
}
