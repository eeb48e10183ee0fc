import type { MemoryEntry, MemoryTier } from '../memory-entry.ts';
import { ApproximateVectorIndex, loadHnsw } from './approximate-vector-index.ts';
import { LexicalIndex } from './lexical-index.ts';
import { type VectorHit, VectorIndex } from './vector-index.ts';

export interface MemoryIndexOptions {
  /**
   * From this many vectors on, embedding candidates come from an HNSW graph (hnswlib-node) instead
   * of an exact scan. The graph is built in the background, a few entries per event-loop turn; until
   * it has caught up the exact scan answers. @default 20000
   */
  approximateFrom?: number;
  /** Entries inserted into the graph per event-loop turn while it catches up. @default 32 */
  approximateBatch?: number;
}

/**
 * How much each signal counts in a result's score. Each signal is first brought to 0-1 (lexical:
 * BM25 divided by the best BM25 of the query; embedding: cosine similarity, negatives as 0;
 * recency: halves every `recencyHalfLifeMs`; importance: as stored), then weighted and summed.
 */
export interface RankingWeights {
  /** @default 0.4 */
  lexical: number;
  /** @default 0.35 */
  embedding: number;
  /** @default 0.1 */
  recency: number;
  /** @default 0.15 */
  importance: number;
  /** Age at which the recency signal is 0.5. @default 3 days */
  recencyHalfLifeMs: number;
  /**
   * A result must match the query: share a word with it (BM25 > 0) or be at least this similar to it
   * by embedding. Keeps recent, important but unrelated memories out of the results. @default 0.25
   */
  minSimilarity: number;
}

/** While more vectors than this wait for the graph, searches scan exactly. */
const APPROXIMATE_LAG = 2_000;

export const DEFAULT_RANKING_WEIGHTS: Readonly<RankingWeights> = Object.freeze({
  lexical: 0.4,
  embedding: 0.35,
  recency: 0.1,
  importance: 0.15,
  recencyHalfLifeMs: 3 * 24 * 3_600_000,
  minSimilarity: 0.25,
});

/** Which entries a search considers. */
export interface RetrievalFilter {
  /** @default every tier */
  tiers?: readonly MemoryTier[];
  /** `own`: the agent's entries only; `shared`: other agents' shared entries only. @default `all` */
  owner?: 'all' | 'own' | 'shared';
  /** Archived entries were compacted into long-term ones. @default false */
  includeArchived?: boolean;
  /** Only entries carrying at least one of these tags. @default no tag filter */
  tags?: readonly string[];
}

/**
 * One retrieved memory and why it ranked where it did: `score` is exactly the sum of `parts`, and
 * `signals` are the raw values behind each part.
 */
export interface RetrievedMemory {
  readonly entry: MemoryEntry;
  readonly score: number;
  /** Each signal's weighted contribution to `score`. */
  readonly parts: { lexical: number; embedding: number; recency: number; importance: number };
  readonly signals: {
    /** BM25 score, or null when the query's words do not occur in the entry. */
    bm25: number | null;
    /** Cosine similarity to the query, or null when either has no embedding (yet). */
    similarity: number | null;
    ageMs: number;
    importance: number;
  };
}

/** A one-line explanation of a result, e.g. for logs and the CLI. */
export function explainRetrieval(result: RetrievedMemory): string {
  const { parts, signals } = result;
  const hours = signals.ageMs / 3_600_000;
  const age = hours < 48 ? `${hours.toFixed(1)} h` : `${(hours / 24).toFixed(1)} d`;
  return [
    `#${result.entry.id} ${result.score.toFixed(3)} =`,
    `lexical ${parts.lexical.toFixed(3)} (bm25 ${signals.bm25 === null ? '-' : signals.bm25.toFixed(2)})`,
    `+ embedding ${parts.embedding.toFixed(3)} (cosine ${signals.similarity === null ? '-' : signals.similarity.toFixed(2)})`,
    `+ recency ${parts.recency.toFixed(3)} (${age} old)`,
    `+ importance ${parts.importance.toFixed(3)} (${signals.importance.toFixed(2)})`,
  ].join(' ');
}

/**
 * The in-process search structure of one agent's visible memory: a BM25 index and a vector index,
 * both updated entry by entry (`upsert`, `setVector`, `delete`), never rebuilt per query. Hybrid
 * search takes the best candidates of each index, scores their union on all four signals and
 * returns the top `limit`.
 */
export class MemoryIndex {
  readonly agent: string;
  readonly #entries = new Map<number, MemoryEntry>();
  readonly #lexical = new LexicalIndex();
  #vectors: VectorIndex | undefined;
  #approximate: ApproximateVectorIndex | undefined;
  /** Ids whose current vector is not in the graph yet. */
  readonly #approximatePending = new Set<number>();
  #approximateTimer: NodeJS.Immediate | undefined;
  #approximateWaiters: (() => void)[] = [];
  readonly #approximateFrom: number;
  readonly #approximateBatch: number;
  readonly #weights: RankingWeights;

  constructor(agent: string, weights: Partial<RankingWeights> = {}, options: MemoryIndexOptions = {}) {
    this.agent = agent;
    this.#weights = { ...DEFAULT_RANKING_WEIGHTS, ...weights };
    this.#approximateFrom = options.approximateFrom ?? 20_000;
    this.#approximateBatch = options.approximateBatch ?? 32;
  }

  /** Vectors waiting to enter the HNSW graph (0 when there is no graph or it has caught up). */
  get approximatePending(): number {
    return this.#approximate === undefined ? 0 : this.#approximatePending.size;
  }

  /** True when embedding candidates come from the HNSW graph. */
  get usesApproximate(): boolean {
    return this.#approximate !== undefined && this.#approximatePending.size <= APPROXIMATE_LAG;
  }

  /** Resolves once the HNSW graph (if any) holds every vector. */
  whenApproximateBuilt(): Promise<void> {
    if (this.approximatePending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#approximateWaiters.push(resolve));
  }

  /** Stops the background graph building. */
  dispose(): void {
    if (this.#approximateTimer !== undefined) clearImmediate(this.#approximateTimer);
    this.#approximateTimer = undefined;
    for (const wake of this.#approximateWaiters.splice(0)) wake();
  }

  get size(): number {
    return this.#entries.size;
  }

  get weights(): Readonly<RankingWeights> {
    return this.#weights;
  }

  entry(id: number): MemoryEntry | undefined {
    return this.#entries.get(id);
  }

  hasVector(id: number): boolean {
    return this.#vectors?.has(id) ?? false;
  }

  vector(id: number): Float32Array | undefined {
    return this.#vectors?.vector(id);
  }

  /**
   * Adds or replaces an entry. Returns true when its text changed (or it is new): its vector, if
   * any, is dropped and it needs a new embedding.
   */
  upsert(entry: MemoryEntry): boolean {
    const previous = this.#entries.get(entry.id);
    this.#entries.set(entry.id, entry);
    const textChanged = previous === undefined || previous.text !== entry.text;
    if (textChanged || previous.tags.join() !== entry.tags.join()) this.#lexical.set(entry.id, entry.text, entry.tags);
    if (textChanged) this.#deleteVector(entry.id);
    return textChanged;
  }

  delete(id: number): void {
    this.#entries.delete(id);
    this.#lexical.delete(id);
    this.#deleteVector(id);
  }

  #deleteVector(id: number): void {
    this.#vectors?.delete(id);
    this.#approximatePending.delete(id);
    this.#approximate?.delete(id);
  }

  /**
   * Stores the embedding of an indexed entry. A vector of another length than the index holds (the
   * embedding model changed) starts a new vector index; entries without a vector are searched
   * lexically until they get one.
   */
  setVector(id: number, vector: Float32Array): void {
    if (!this.#entries.has(id)) return;
    if (this.#vectors === undefined || this.#vectors.dimensions !== vector.length) {
      this.dispose();
      this.#vectors = new VectorIndex(vector.length);
      this.#approximate = undefined;
      this.#approximatePending.clear();
    }
    this.#vectors.set(id, vector);
    if (this.#approximate !== undefined) {
      this.#approximatePending.add(id);
      this.#scheduleApproximate();
    } else if (this.#vectors.size >= this.#approximateFrom && !(loadHnsw() instanceof Error)) {
      this.#approximate = new ApproximateVectorIndex(vector.length);
      for (const entryId of this.#entries.keys()) if (this.#vectors.has(entryId)) this.#approximatePending.add(entryId);
      this.#scheduleApproximate();
    }
  }

  #scheduleApproximate(): void {
    if (this.#approximateTimer !== undefined) return;
    this.#approximateTimer = setImmediate(() => {
      this.#approximateTimer = undefined;
      const graph = this.#approximate;
      const vectors = this.#vectors;
      if (graph === undefined || vectors === undefined) return;
      let done = 0;
      for (const id of this.#approximatePending) {
        if (done++ >= this.#approximateBatch) break;
        this.#approximatePending.delete(id);
        const vector = vectors.vector(id);
        if (vector !== undefined) graph.set(id, vector);
      }
      if (this.#approximatePending.size > 0) this.#scheduleApproximate();
      else for (const wake of this.#approximateWaiters.splice(0)) wake();
    });
  }

  /** Embedding candidates: from the graph plus the few vectors it has not taken in yet, or an exact scan. */
  #vectorCandidates(query: Float32Array, limit: number, accept: (id: number) => boolean): VectorHit[] {
    const vectors = this.#vectors!;
    if (!this.usesApproximate) return vectors.search(query, limit, accept);
    const hits = this.#approximate!.search(query, limit, accept);
    for (const id of this.#approximatePending) {
      if (!accept(id)) continue;
      const similarity = vectors.similarity(id, query);
      if (similarity !== undefined) hits.push({ id, similarity });
    }
    return hits.sort((a, b) => b.similarity - a.similarity).slice(0, limit);
  }

  /** The best `limit` entries for `query` (and its embedding, when there is one) at time `now`. */
  search(
    query: string,
    queryVector: Float32Array | undefined,
    options: RetrievalFilter & { limit: number; now: number },
  ): RetrievedMemory[] {
    const accept = this.#filter(options);
    const candidates = Math.max(options.limit * 20, 100);
    const lexicalHits = this.#lexical.search(query, candidates, accept);
    const bm25 = new Map(lexicalHits.map((hit) => [hit.id, hit.score]));
    const bestBm25 = lexicalHits[0]?.score ?? 0;
    const vectors =
      queryVector !== undefined && this.#vectors?.dimensions === queryVector.length ? this.#vectors : undefined;
    const ids = new Set(bm25.keys());
    if (vectors !== undefined)
      for (const hit of this.#vectorCandidates(queryVector!, candidates, accept)) ids.add(hit.id);
    const weights = this.#weights;
    const results: RetrievedMemory[] = [];
    for (const id of ids) {
      const entry = this.#entries.get(id)!;
      const lexicalRaw = bm25.get(id) ?? null;
      const similarity = vectors === undefined ? null : (vectors.similarity(id, queryVector!) ?? null);
      if (lexicalRaw === null && (similarity === null || similarity < weights.minSimilarity)) continue;
      const ageMs = Math.max(0, options.now - entry.createdAt);
      const parts = {
        lexical: lexicalRaw === null || bestBm25 === 0 ? 0 : weights.lexical * (lexicalRaw / bestBm25),
        embedding: similarity === null ? 0 : weights.embedding * Math.max(0, similarity),
        recency: weights.recency * 0.5 ** (ageMs / weights.recencyHalfLifeMs),
        importance: weights.importance * entry.importance,
      };
      results.push({
        entry,
        score: parts.lexical + parts.embedding + parts.recency + parts.importance,
        parts,
        signals: { bm25: lexicalRaw, similarity, ageMs, importance: entry.importance },
      });
    }
    return results.sort((a, b) => b.score - a.score || b.entry.id - a.entry.id).slice(0, options.limit);
  }

  #filter(filter: RetrievalFilter): (id: number) => boolean {
    const tiers = filter.tiers === undefined ? undefined : new Set<string>(filter.tiers);
    const tags = filter.tags === undefined || filter.tags.length === 0 ? undefined : new Set(filter.tags);
    const owner = filter.owner ?? 'all';
    const includeArchived = filter.includeArchived ?? false;
    return (id) => {
      const entry = this.#entries.get(id);
      if (entry === undefined) return false;
      if (entry.archived && !includeArchived) return false;
      if (tiers !== undefined && !tiers.has(entry.tier)) return false;
      if (owner === 'own' && entry.agent !== this.agent) return false;
      if (owner === 'shared' && entry.agent === this.agent) return false;
      if (tags !== undefined && !entry.tags.some((tag) => tags.has(tag))) return false;
      return true;
    };
  }
}
