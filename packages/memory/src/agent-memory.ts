import type { BusClient } from '@clawfleet/bus-client';
import type { InferenceClient } from '@clawfleet/inference-client';
import { ClawError, integerInRange, type Logger, parseOrThrow, silentLogger } from '@clawfleet/protocol';
import type { Embedder, EmbeddingModel } from './embedding/embedder.ts';
import { InferenceEmbedder } from './embedding/embedder.ts';
import {
  type EmbeddingCache,
  type EmbeddingRecord,
  FileEmbeddingCache,
  textDigest,
} from './embedding/embedding-cache.ts';
import type { MemoryEntry, MemoryLink, MemoryLinkInput, MemoryScope, MemoryTier } from './memory-entry.ts';
import {
  MemoryIndex,
  type MemoryIndexOptions,
  type RankingWeights,
  type RetrievalFilter,
  type RetrievedMemory,
} from './retrieval/memory-index.ts';
import { BusMemoryStore } from './store/bus-memory-store.ts';
import type { MemoryStore, MemoryStoreChange, ReflectionWrite } from './store/memory-store.ts';

export interface AgentMemoryOptions {
  /** Where the agent's memory lives (`BusMemoryStore` in production). */
  store: MemoryStore;
  embedder: Embedder;
  logger?: Logger;
  /** Overrides of the default ranking weights (docs/memory.md, "Retrieval"). */
  ranking?: Partial<RankingWeights>;
  /** When the vector search switches from an exact scan to an HNSW graph. */
  index?: MemoryIndexOptions;
  /** Texts per embedding request while indexing. @default 32 */
  embedBatchSize?: number;
  /** The clock for recency. @default Date.now */
  now?: () => number;
  /**
   * Where vectors outlive the process: entries whose text and embedding model are unchanged since
   * they were stored are not embedded again after a restart. Without one, every start embeds
   * everything (in the background).
   */
  embeddingCache?: EmbeddingCache;
}

export interface RetrieveOptions extends RetrievalFilter {
  /** At most this many results, 1-100. @default 5 */
  limit?: number;
  signal?: AbortSignal;
}

/** A note an agent writes itself (e.g. the `memory.write_note` tool). */
export interface NoteWrite {
  text: string;
  /** 0 to 1. @default 0.5 */
  importance?: number;
  /** Normalised to lowercase, spaces as `-`. @default [] */
  tags?: readonly string[];
  /** @default `short` (the current cycles); `daily` and `long` are allowed too */
  tier?: MemoryTier;
  /** @default `private` */
  scope?: MemoryScope;
  /** Provenance, e.g. `{ kind: 'cycle', id }`. @default [] */
  links?: readonly MemoryLinkInput[];
}

const MAX_QUERY_LENGTH = 2_000;
const QUERY_CACHE_SIZE = 128;
const LIMIT_SCHEMA = integerInRange('limit', 1, 100);

/** Lowercase, trimmed, inner whitespace as `-`, invalid characters dropped, duplicates removed. */
export function normalizeTags(tags: readonly string[]): string[] {
  const normalized = tags
    .map((tag) =>
      tag
        .trim()
        .toLowerCase()
        .replace(/\s+/g, '-')
        .replace(/[^a-z0-9_.:/-]/g, '')
        .replace(/^[^a-z0-9]+/, '')
        .slice(0, 40),
    )
    .filter((tag) => tag.length > 0);
  return [...new Set(normalized)];
}

/**
 * One agent's memory: hybrid retrieval over everything it may see, and its writes (notes,
 * reflections, sharing). Reads come from an in-process index fed by the store's subscription, so a
 * retrieval costs one query embedding and a scan, and never a database round trip. Entries are
 * embedded in the background as they arrive; until then they are found lexically.
 *
 * ```ts
 * const memory = await AgentMemory.open({ store: new BusMemoryStore({ bus }), embedder });
 * const results = await memory.retrieve('deploy failed on staging', { limit: 5 });
 * results[0].entry.id; results[0].score; explainRetrieval(results[0]);
 * ```
 */
export class AgentMemory implements AsyncDisposable {
  readonly store: MemoryStore;
  readonly embedder: Embedder;
  readonly #index: MemoryIndex;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #batchSize: number;
  readonly #unsubscribe: () => void;
  /** Entry ids waiting for an embedding, in arrival order. */
  readonly #pending = new Set<number>();
  readonly #queryCache = new Map<string, Float32Array>();
  #embedding: Promise<void> | undefined;
  #cache: EmbeddingCache | undefined;
  /** The model the stored vectors must match; set once the cache has been read. */
  #cacheModel: EmbeddingModel | undefined;
  /** Entries whose vectors came from the cache at start. */
  #restored = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #idleWaiters: (() => void)[] = [];
  #disposed = false;
  readonly #abort = new AbortController();

  private constructor(options: AgentMemoryOptions) {
    this.store = options.store;
    this.embedder = options.embedder;
    this.#index = new MemoryIndex(options.store.agent, options.ranking, options.index);
    this.#logger = (options.logger ?? silentLogger).child({ component: 'memory', agent: options.store.agent });
    this.#now = options.now ?? Date.now;
    this.#batchSize = options.embedBatchSize ?? 32;
    this.#cache = options.embeddingCache;
    this.#unsubscribe = this.store.onChange((change) => this.#onChange(change));
  }

  /** Waits for the store's rows, indexes them, and starts embedding them in the background. */
  static async open(options: AgentMemoryOptions): Promise<AgentMemory> {
    const memory = new AgentMemory(options);
    await options.store.ready;
    for (const entry of options.store.entries()) memory.#onChange({ type: 'upsert', entry, previous: undefined });
    return memory;
  }

  /**
   * The usual production wiring: a `BusMemoryStore` on the agent's bus connection and embeddings
   * from `inference.embed`. Disposing the memory disposes the store (not the clients).
   */
  static async openOnBus(options: {
    bus: BusClient;
    inference: Pick<InferenceClient, 'embed'>;
    logger?: Logger;
    ranking?: Partial<RankingWeights>;
    /** A file for the vectors (`FileEmbeddingCache`), so a restart does not embed everything again. */
    embeddingCachePath?: string;
  }): Promise<AgentMemory> {
    const store = new BusMemoryStore({ bus: options.bus, ...(options.logger ? { logger: options.logger } : {}) });
    return AgentMemory.open({
      store,
      embedder: new InferenceEmbedder({ inference: options.inference }),
      ...(options.logger ? { logger: options.logger } : {}),
      ...(options.ranking ? { ranking: options.ranking } : {}),
      ...(options.embeddingCachePath === undefined
        ? {}
        : {
            embeddingCache: new FileEmbeddingCache({
              path: options.embeddingCachePath,
              ...(options.logger ? { logger: options.logger } : {}),
            }),
          }),
    });
  }

  get agent(): string {
    return this.store.agent;
  }

  /** Entries in the index (everything visible, archived included). */
  get size(): number {
    return this.#index.size;
  }

  /** Entries that still wait for their embedding. */
  get pendingEmbeddings(): number {
    return this.#pending.size;
  }

  /** Entries whose vectors were read from the embedding cache instead of embedded, since it opened. */
  get restoredEmbeddings(): number {
    return this.#restored;
  }

  /**
   * The memories that best match `query`, best first, each with the parts of its score (see
   * `RetrievedMemory` and `explainRetrieval`). Private entries of other agents are never in the
   * index: the database's view does not send them. Archived entries are skipped unless asked for.
   * If the query cannot be embedded (inference down), the search is lexical and logs a warning.
   *
   * Rejects INVALID_PARAMS for an empty or over-long query or a bad `limit`, CANCELLED when aborted.
   */
  async retrieve(query: string, options: RetrieveOptions = {}): Promise<RetrievedMemory[]> {
    this.#assertOpen();
    const limit = parseOrThrow(LIMIT_SCHEMA, options.limit ?? 5, 'INVALID_PARAMS', '`retrieve` options');
    if (typeof query !== 'string' || query.trim().length === 0) {
      throw new ClawError('INVALID_PARAMS', 'Expected `query` to be non-empty text');
    }
    if (query.length > MAX_QUERY_LENGTH) {
      throw new ClawError('INVALID_PARAMS', `Expected \`query\` to be at most ${MAX_QUERY_LENGTH} characters`);
    }
    const queryVector = await this.#embedQuery(query, options.signal);
    options.signal?.throwIfAborted();
    return this.#index.search(query, queryVector, { ...options, limit, now: this.#now() });
  }

  /** Writes a note of this agent; resolves with the stored entry once it is searchable. */
  async writeNote(note: NoteWrite, options: { signal?: AbortSignal } = {}): Promise<MemoryEntry> {
    this.#assertOpen();
    return this.store.write(
      {
        tier: note.tier ?? 'short',
        scope: note.scope ?? 'private',
        importance: note.importance ?? 0.5,
        text: note.text,
        tags: normalizeTags(note.tags ?? []),
        links: note.links ?? [],
      },
      options,
    );
  }

  /**
   * Records the reflection of a cycle (`record_reflection`): a public reflection row and a private
   * daily memory linked to it, the task and `links` (cycle, stimulus, tool calls, usage rows).
   */
  async recordReflection(reflection: ReflectionWrite, options: { signal?: AbortSignal } = {}): Promise<MemoryEntry> {
    this.#assertOpen();
    return this.store.recordReflection({ ...reflection, tags: normalizeTags(reflection.tags ?? []) }, options);
  }

  /** Makes an own entry readable by every agent. Rejects REDUCER_REJECTED if it is not the agent's own. */
  async share(id: number, options: { signal?: AbortSignal } = {}): Promise<MemoryEntry> {
    this.#assertOpen();
    return this.store.setScope(id, 'shared', options);
  }

  /** Makes an own shared entry private again. */
  async unshare(id: number, options: { signal?: AbortSignal } = {}): Promise<MemoryEntry> {
    this.#assertOpen();
    return this.store.setScope(id, 'private', options);
  }

  entry(id: number): MemoryEntry | undefined {
    return this.#index.entry(id);
  }

  /** Provenance of an entry: where it came from (for a long-term entry, the memories it summarises). */
  links(id: number): MemoryLink[] {
    return this.store.links(id);
  }

  /** The stored embedding of an entry, once it has one (compaction groups related entries with it). */
  vector(id: number): Float32Array | undefined {
    return this.#index.vector(id);
  }

  /** Resolves when every entry seen so far has its embedding (or the embedder failed for this round). */
  whenIndexed(): Promise<void> {
    if (this.#pending.size === 0 && this.#embedding === undefined) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#abort.abort(new ClawError('CANCELLED', 'Agent memory closed'));
    this.#unsubscribe();
    clearTimeout(this.#retryTimer);
    this.#index.dispose();
    await this.#embedding?.catch(() => {});
    this.#wakeIdle();
    await this.store.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  #assertOpen(): void {
    if (this.#disposed) throw new ClawError('CONNECTION_CLOSED', 'Agent memory is closed');
  }

  #onChange(change: MemoryStoreChange): void {
    if (change.type === 'delete') {
      this.#index.delete(change.entry.id);
      this.#pending.delete(change.entry.id);
      return;
    }
    if (this.#index.upsert(change.entry) || !this.#index.hasVector(change.entry.id)) {
      this.#pending.add(change.entry.id);
      this.#scheduleEmbedding();
    }
  }

  #scheduleEmbedding(): void {
    if (this.#embedding !== undefined || this.#disposed || this.#retryTimer !== undefined) return;
    this.#embedding = this.#embedPending().finally(() => {
      this.#embedding = undefined;
      if (this.#pending.size === 0 || this.#retryTimer !== undefined) this.#wakeIdle();
    });
  }

  async #embedPending(): Promise<void> {
    // Yield once so the entries of one subscription batch go out in one request.
    await new Promise((resolve) => setImmediate(resolve));
    if (this.#cache !== undefined && this.#cacheModel === undefined && this.#pending.size > 0) {
      if (!(await this.#restoreFromCache(this.#cache))) return;
    }
    while (this.#pending.size > 0 && !this.#disposed) {
      const ids = [...this.#pending].slice(0, this.#batchSize);
      const entries = ids.map((id) => this.#index.entry(id)).filter((entry) => entry !== undefined);
      let vectors: Float32Array[];
      try {
        vectors = await this.embedder.embed(
          entries.map((entry) => entry.text),
          { signal: this.#abort.signal },
        );
      } catch (error) {
        if (this.#disposed) return;
        // Entries stay pending (and lexically searchable); try again later rather than spin.
        this.#logger.warn({ err: error, pending: this.#pending.size }, 'embedding memories failed; retrying in 5 s');
        this.#retryTimer = setTimeout(() => {
          this.#retryTimer = undefined;
          this.#scheduleEmbedding();
        }, 5_000);
        this.#retryTimer.unref();
        return;
      }
      const kept: EmbeddingRecord[] = [];
      entries.forEach((entry, index) => {
        // The text may have changed while embedding; only a vector of the current text is kept.
        if (this.#index.entry(entry.id)?.text !== entry.text) return;
        this.#index.setVector(entry.id, vectors[index]!);
        kept.push({ id: entry.id, textDigest: textDigest(entry.text), vector: vectors[index]! });
      });
      for (const id of ids) if (this.#index.hasVector(id) || !this.#index.entry(id)) this.#pending.delete(id);
      await this.#store(kept);
    }
  }

  /**
   * Before embedding anything after a start: takes the vectors the cache holds for the current model
   * and each entry's current text. False when the model could not be asked (the retry is scheduled).
   */
  async #restoreFromCache(cache: EmbeddingCache): Promise<boolean> {
    let model: EmbeddingModel;
    try {
      model = await this.embedder.model({ signal: this.#abort.signal });
    } catch (error) {
      if (this.#disposed) return false;
      this.#logger.warn({ err: error }, 'could not learn the embedding model; retrying in 5 s');
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = undefined;
        this.#scheduleEmbedding();
      }, 5_000);
      this.#retryTimer.unref();
      return false;
    }
    let stored: Map<number, { textDigest: string; vector: Float32Array }>;
    try {
      stored = await cache.load(model);
    } catch (error) {
      // A cache that cannot be read costs embedding time, never the memory: go on without it.
      this.#logger.warn({ err: error }, 'embedding cache unreadable; embedding without it');
      this.#cache = undefined;
      return true;
    }
    this.#cacheModel = model;
    const live: EmbeddingRecord[] = [];
    for (const id of [...this.#pending]) {
      const entry = this.#index.entry(id);
      const record = stored.get(id);
      if (entry === undefined || record === undefined || record.textDigest !== textDigest(entry.text)) continue;
      this.#index.setVector(id, record.vector);
      this.#pending.delete(id);
      live.push({ id, ...record });
    }
    this.#restored += live.length;
    this.#logger.info(
      { restored: live.length, toEmbed: this.#pending.size, model: model.key },
      'embeddings restored from the cache',
    );
    // Records of deleted or changed entries (and another model's file) go, so the file stays the size of the memory.
    if (stored.size > live.length) {
      try {
        await cache.rewrite(model, live);
      } catch (error) {
        this.#logger.warn({ err: error }, 'could not rewrite the embedding cache');
      }
    }
    return true;
  }

  async #store(records: readonly EmbeddingRecord[]): Promise<void> {
    const cache = this.#cache;
    const model = this.#cacheModel;
    if (cache === undefined || model === undefined || records.length === 0) return;
    const current = await this.embedder.model().catch(() => model);
    if (current.key !== model.key || records.some((record) => record.vector.length !== model.dimensions)) {
      // The service now answers with another model (same config id, other file): stop storing, and
      // the next start, seeing the new model, embeds everything again.
      this.#logger.warn(
        { model: model.key },
        'the embedding model changed while running; vectors are no longer stored',
      );
      this.#cache = undefined;
      return;
    }
    try {
      await cache.save(model, records);
    } catch (error) {
      // Once, not per batch: a cache that cannot be written (a read-only folder) is given up.
      this.#logger.warn({ err: error }, 'could not store embeddings; they will be embedded again after a restart');
      this.#cache = undefined;
    }
  }

  async #embedQuery(query: string, signal: AbortSignal | undefined): Promise<Float32Array | undefined> {
    const cached = this.#queryCache.get(query);
    if (cached !== undefined) return cached;
    try {
      const [vector] = await this.embedder.embed([query], signal === undefined ? {} : { signal });
      if (vector === undefined) return undefined;
      if (this.#queryCache.size >= QUERY_CACHE_SIZE) {
        this.#queryCache.delete(this.#queryCache.keys().next().value as string);
      }
      this.#queryCache.set(query, vector);
      return vector;
    } catch (error) {
      if (signal?.aborted) throw new ClawError('CANCELLED', 'Retrieval cancelled', { cause: error });
      this.#logger.warn({ err: error }, 'embedding the query failed; searching lexically only');
      return undefined;
    }
  }

  #wakeIdle(): void {
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const wake of waiters) wake();
  }
}
