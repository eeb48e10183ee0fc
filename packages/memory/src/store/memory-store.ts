import type {
  CompactionRun,
  MemoryEntry,
  MemoryLink,
  MemoryLinkInput,
  MemoryScope,
  MemoryTier,
} from '../memory-entry.ts';

/** A new memory of the store's agent. `created_at` is set by the database: agents cannot backdate. */
export interface MemoryWrite {
  tier: MemoryTier;
  /** @default `private` */
  scope?: MemoryScope;
  /** 0 to 1. */
  importance: number;
  text: string;
  /** Lowercase labels (`[a-z0-9][a-z0-9_.:/-]*`, at most 16). @default [] */
  tags?: readonly string[];
  /** Provenance. @default [] */
  links?: readonly MemoryLinkInput[];
}

/** What `record_reflection` stores: a public reflection row and a private daily memory linked to it. */
export interface ReflectionWrite {
  /** The task the cycle worked on, if any (linked as `task`). */
  taskId?: number;
  text: string;
  /** 0 to 1. */
  importance: number;
  tags?: readonly string[];
  /** cycle, stimulus, tool calls, inference usage rows... (not the reflection or `taskId`: linked already). */
  links?: readonly MemoryLinkInput[];
}

export interface MemoryUpdate {
  tier?: MemoryTier;
  importance?: number;
  text?: string;
  tags?: readonly string[];
}

/** One long-term entry that completes a compaction run, and the run's sources it summarises. */
export interface CompactedEntry {
  text: string;
  importance: number;
  tags: readonly string[];
  sourceIds: readonly number[];
}

/** What a store reports when its view of memory changes (its own writes included). */
export type MemoryStoreChange =
  | { type: 'upsert'; entry: MemoryEntry; previous: MemoryEntry | undefined }
  | { type: 'delete'; entry: MemoryEntry };

export interface StoreCallOptions {
  signal?: AbortSignal;
}

/**
 * The memory of one agent as the database holds it: the port between this package and the bus.
 * Every write is a reducer call made as `agent`, so ownership, validation and scope are enforced by
 * the database (rejections are ClawError REDUCER_REJECTED with the reducer's message, or
 * INVALID_PARAMS). Reads come from what the agent may see: its own entries and every shared one.
 *
 * Implementations: `BusMemoryStore` (the real one, over a BusClient) and
 * `InMemoryMemoryStore` (a fake for tests, `@clawfleet/memory/testing`); both pass
 * `describeMemoryStoreContract`.
 */
export interface MemoryStore extends AsyncDisposable {
  /** The agent this store reads and writes as. */
  readonly agent: string;
  /** Resolves once the current rows are loaded and changes flow to `onChange`. */
  readonly ready: Promise<void>;
  /** Every entry the agent may see (own and shared, archived included), in id order. */
  entries(): MemoryEntry[];
  entry(id: number): MemoryEntry | undefined;
  /** Provenance links of an entry the agent may see. */
  links(memoryId: number): MemoryLink[];
  /** The agent's own compaction runs. */
  compactions(): CompactionRun[];
  /** Calls `listener` after each change of a visible entry; returns the unsubscribe function. */
  onChange(listener: (change: MemoryStoreChange) => void): () => void;
  /** Writes an own entry; resolves with it once it is visible here. */
  write(memory: MemoryWrite, options?: StoreCallOptions): Promise<MemoryEntry>;
  /** Records a reflection (`record_reflection`); resolves with its daily memory entry. */
  recordReflection(reflection: ReflectionWrite, options?: StoreCallOptions): Promise<MemoryEntry>;
  update(id: number, update: MemoryUpdate, options?: StoreCallOptions): Promise<MemoryEntry>;
  /** Makes an own entry shared (readable by every agent) or private again. */
  setScope(id: number, scope: MemoryScope, options?: StoreCallOptions): Promise<MemoryEntry>;
  delete(id: number, options?: StoreCallOptions): Promise<void>;
  /** Claims own short/daily entries for one compaction run. */
  beginCompaction(sourceIds: readonly number[], options?: StoreCallOptions): Promise<CompactionRun>;
  /** Writes the long-term entries and archives the run's sources, in one transaction, once. */
  completeCompaction(
    runId: number,
    entries: readonly CompactedEntry[],
    options?: StoreCallOptions,
  ): Promise<CompactionRun>;
  abandonCompaction(runId: number, options?: StoreCallOptions): Promise<void>;
  dispose(): Promise<void>;
}
