export interface VectorHit {
  id: number;
  /** Cosine similarity (vectors are unit length), -1 to 1. */
  similarity: number;
}

/**
 * Unit vectors in one contiguous Float32Array, scanned exhaustively (exact nearest neighbours).
 * Entries are added and removed one at a time (removal moves the last vector into the freed slot),
 * so the index follows the bus subscription without rebuilds. docs/memory.md says why no
 * approximate index library is used (docs/benchmarks.md has the figures).
 */
export class VectorIndex {
  readonly dimensions: number;
  #vectors: Float32Array;
  #ids: Float64Array;
  readonly #slots = new Map<number, number>();
  #size = 0;

  constructor(dimensions: number, initialCapacity = 1024) {
    this.dimensions = dimensions;
    this.#vectors = new Float32Array(dimensions * initialCapacity);
    this.#ids = new Float64Array(initialCapacity);
  }

  get size(): number {
    return this.#size;
  }

  has(id: number): boolean {
    return this.#slots.has(id);
  }

  /** Adds or replaces the vector of `id` (already unit length, `dimensions` long). */
  set(id: number, vector: Float32Array): void {
    if (vector.length !== this.dimensions) {
      throw new RangeError(`Expected a vector of ${this.dimensions} dimensions, got ${vector.length}`);
    }
    let slot = this.#slots.get(id);
    if (slot === undefined) {
      if (this.#size === this.#ids.length) this.#grow();
      slot = this.#size++;
      this.#slots.set(id, slot);
      this.#ids[slot] = id;
    }
    this.#vectors.set(vector, slot * this.dimensions);
  }

  delete(id: number): void {
    const slot = this.#slots.get(id);
    if (slot === undefined) return;
    this.#slots.delete(id);
    const last = --this.#size;
    if (slot !== last) {
      const movedId = this.#ids[last]!;
      this.#vectors.copyWithin(slot * this.dimensions, last * this.dimensions, (last + 1) * this.dimensions);
      this.#ids[slot] = movedId;
      this.#slots.set(movedId, slot);
    }
  }

  /** Cosine similarity of `id`'s vector with `query`, or undefined when `id` has none yet. */
  similarity(id: number, query: Float32Array): number | undefined {
    const slot = this.#slots.get(id);
    return slot === undefined ? undefined : this.#dot(slot, query);
  }

  vector(id: number): Float32Array | undefined {
    const slot = this.#slots.get(id);
    if (slot === undefined) return undefined;
    return this.#vectors.slice(slot * this.dimensions, (slot + 1) * this.dimensions);
  }

  /** The `limit` most similar vectors that pass `accept`, best first. */
  search(query: Float32Array, limit: number, accept: (id: number) => boolean): VectorHit[] {
    if (limit <= 0) return [];
    // A min-heap of the best `limit` so far: O(n log k), no sort of all n.
    const heapIds: number[] = [];
    const heapScores: number[] = [];
    const siftDown = (start: number) => {
      let index = start;
      for (;;) {
        const left = 2 * index + 1;
        const right = left + 1;
        let smallest = index;
        if (left < heapScores.length && heapScores[left]! < heapScores[smallest]!) smallest = left;
        if (right < heapScores.length && heapScores[right]! < heapScores[smallest]!) smallest = right;
        if (smallest === index) return;
        [heapScores[index], heapScores[smallest]] = [heapScores[smallest]!, heapScores[index]!];
        [heapIds[index], heapIds[smallest]] = [heapIds[smallest]!, heapIds[index]!];
        index = smallest;
      }
    };
    for (let slot = 0; slot < this.#size; slot++) {
      const score = this.#dot(slot, query);
      if (heapScores.length === limit && score <= heapScores[0]!) continue;
      const id = this.#ids[slot]!;
      if (!accept(id)) continue;
      if (heapScores.length < limit) {
        heapScores.push(score);
        heapIds.push(id);
        for (let index = heapScores.length - 1; index > 0; ) {
          const parent = (index - 1) >> 1;
          if (heapScores[parent]! <= heapScores[index]!) break;
          [heapScores[index], heapScores[parent]] = [heapScores[parent]!, heapScores[index]!];
          [heapIds[index], heapIds[parent]] = [heapIds[parent]!, heapIds[index]!];
          index = parent;
        }
      } else {
        heapScores[0] = score;
        heapIds[0] = id;
        siftDown(0);
      }
    }
    return heapIds
      .map((id, index) => ({ id, similarity: heapScores[index]! }))
      .sort((a, b) => b.similarity - a.similarity || a.id - b.id);
  }

  #dot(slot: number, query: Float32Array): number {
    const vectors = this.#vectors;
    const offset = slot * this.dimensions;
    let sum = 0;
    for (let index = 0; index < this.dimensions; index++) sum += vectors[offset + index]! * query[index]!;
    return sum;
  }

  #grow(): void {
    const capacity = this.#ids.length * 2;
    const vectors = new Float32Array(this.dimensions * capacity);
    vectors.set(this.#vectors);
    const ids = new Float64Array(capacity);
    ids.set(this.#ids);
    this.#vectors = vectors;
    this.#ids = ids;
  }
}
