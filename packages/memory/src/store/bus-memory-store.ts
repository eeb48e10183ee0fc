import type { BusClient, BusRow, BusSubscription, ReducerArgs } from '@clawfleet/bus-client';
import { ClawError, type Logger, silentLogger } from '@clawfleet/protocol';
import type { CompactionRun, MemoryEntry, MemoryLink, MemoryScope } from '../memory-entry.ts';
import type {
  CompactedEntry,
  MemoryStore,
  MemoryStoreChange,
  MemoryUpdate,
  MemoryWrite,
  ReflectionWrite,
  StoreCallOptions,
} from './memory-store.ts';
import { compactionFromRow, entryFromRow, linkFromRow } from './rows.ts';

export interface BusMemoryStoreOptions {
  /** Connected as the agent whose memory this is (its name is the store's agent). */
  bus: BusClient;
  logger?: Logger;
}

const QUERIES = [
  'SELECT * FROM visible_memory',
  'SELECT * FROM visible_memory_link',
  'SELECT * FROM visible_memory_compaction',
] as const;

/**
 * The real MemoryStore: reducer calls for writes, and one subscription to the `visible_memory*`
 * views for reads, kept in maps by id and pushed to `onChange` listeners (the retrieval index is one).
 * What the agent sees is decided by the database's views, never filtered here.
 */
export class BusMemoryStore implements MemoryStore {
  readonly agent: string;
  readonly ready: Promise<void>;
  readonly #bus: BusClient;
  readonly #logger: Logger;
  readonly #entries = new Map<number, MemoryEntry>();
  readonly #links = new Map<number, MemoryLink[]>();
  readonly #compactions = new Map<number, CompactionRun>();
  readonly #listeners = new Set<(change: MemoryStoreChange) => void>();
  readonly #subscription: BusSubscription;

  constructor(options: BusMemoryStoreOptions) {
    this.#bus = options.bus;
    this.agent = options.bus.name;
    this.#logger = (options.logger ?? silentLogger).child({ component: 'memory-store', agent: this.agent });
    this.#subscription = this.#bus.subscribe(QUERIES, {
      onInsert: (row, table) => this.#apply(table, undefined, row),
      onUpdate: (oldRow, newRow, table) => this.#apply(table, oldRow, newRow),
      onDelete: (row, table) => this.#remove(table, row),
      onError: (error) => this.#logger.error({ err: error }, 'memory subscription ended'),
    });
    this.ready = this.#subscription.ready;
  }

  entries(): MemoryEntry[] {
    return [...this.#entries.values()].sort((a, b) => a.id - b.id);
  }

  entry(id: number): MemoryEntry | undefined {
    return this.#entries.get(id);
  }

  links(memoryId: number): MemoryLink[] {
    return [...(this.#links.get(memoryId) ?? [])].sort((a, b) => a.id - b.id);
  }

  compactions(): CompactionRun[] {
    return [...this.#compactions.values()].sort((a, b) => a.id - b.id);
  }

  onChange(listener: (change: MemoryStoreChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async write(memory: MemoryWrite, options: StoreCallOptions = {}): Promise<MemoryEntry> {
    const args = {
      tier: memory.tier,
      scope: memory.scope ?? 'private',
      importance: memory.importance,
      text: memory.text,
      tags: [...(memory.tags ?? [])],
      links: (memory.links ?? []).map((link) => ({ kind: link.kind, id: link.id })),
    };
    return this.#writeAndFind('write_memory', args, (entry) => entry.text === memory.text, options);
  }

  async recordReflection(reflection: ReflectionWrite, options: StoreCallOptions = {}): Promise<MemoryEntry> {
    const args = {
      task_id: reflection.taskId ?? null,
      text: reflection.text,
      importance: reflection.importance,
      tags: [...(reflection.tags ?? [])],
      links: (reflection.links ?? []).map((link) => ({ kind: link.kind, id: link.id })),
    };
    return this.#writeAndFind('record_reflection', args, (entry) => entry.text === reflection.text, options);
  }

  async update(id: number, update: MemoryUpdate, options: StoreCallOptions = {}): Promise<MemoryEntry> {
    const current = this.#requireEntry(id);
    await this.#bus.callReducer(
      'update_memory',
      {
        memory_id: id,
        tier: update.tier ?? current.tier,
        importance: update.importance ?? current.importance,
        text: update.text ?? current.text,
        tags: [...(update.tags ?? current.tags)],
      },
      options,
    );
    return this.#requireEntry(id);
  }

  async setScope(id: number, scope: MemoryScope, options: StoreCallOptions = {}): Promise<MemoryEntry> {
    await this.#bus.callReducer('share_memory', { memory_id: id, scope }, options);
    return this.#requireEntry(id);
  }

  async delete(id: number, options: StoreCallOptions = {}): Promise<void> {
    await this.#bus.callReducer('delete_memory', { memory_id: id }, options);
  }

  async beginCompaction(sourceIds: readonly number[], options: StoreCallOptions = {}): Promise<CompactionRun> {
    const before = new Set(this.#compactions.keys());
    await this.#bus.callReducer('begin_memory_compaction', { source_ids: [...sourceIds] }, options);
    const created = [...this.#compactions.values()].filter(
      (run) => !before.has(run.id) && run.sourceIds.join() === sourceIds.join(),
    );
    const run = created.at(-1);
    if (run === undefined) throw new ClawError('INTERNAL', 'The new compaction run did not reach the memory store');
    return run;
  }

  async completeCompaction(
    runId: number,
    entries: readonly CompactedEntry[],
    options: StoreCallOptions = {},
  ): Promise<CompactionRun> {
    await this.#bus.callReducer(
      'complete_memory_compaction',
      {
        compaction_id: runId,
        entries: entries.map((entry) => ({
          text: entry.text,
          importance: entry.importance,
          tags: [...entry.tags],
          source_ids: [...entry.sourceIds],
        })),
      },
      options,
    );
    const run = this.#compactions.get(runId);
    if (run === undefined) throw new ClawError('INTERNAL', `Compaction run ${runId} is missing from the memory store`);
    return run;
  }

  async abandonCompaction(runId: number, options: StoreCallOptions = {}): Promise<void> {
    await this.#bus.callReducer('abandon_memory_compaction', { compaction_id: runId }, options);
  }

  async dispose(): Promise<void> {
    this.#listeners.clear();
    await this.#subscription.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  /**
   * Runs a reducer that inserts one own entry and returns that entry. The call resolves after its
   * rows reached this client, so the entry is the own one that was not there before and matches.
   */
  async #writeAndFind<Reducer extends 'write_memory' | 'record_reflection'>(
    reducer: Reducer,
    args: ReducerArgs<Reducer>,
    matches: (entry: MemoryEntry) => boolean,
    options: StoreCallOptions,
  ): Promise<MemoryEntry> {
    const before = new Set(this.#entries.keys());
    await this.#bus.callReducer(reducer, args, options);
    let found: MemoryEntry | undefined;
    for (const entry of this.#entries.values()) {
      if (before.has(entry.id) || entry.agent !== this.agent || !matches(entry)) continue;
      if (found === undefined || entry.id > found.id) found = entry;
    }
    if (found === undefined) throw new ClawError('INTERNAL', `The entry written by ${reducer} did not reach the store`);
    return found;
  }

  #requireEntry(id: number): MemoryEntry {
    const entry = this.#entries.get(id);
    if (entry === undefined) throw new ClawError('NOT_FOUND', `Memory ${id} does not exist`);
    return entry;
  }

  #apply(table: string, _oldRow: BusRow | undefined, row: BusRow): void {
    switch (table) {
      case 'visible_memory': {
        const entry = entryFromRow(row);
        const previous = this.#entries.get(entry.id);
        this.#entries.set(entry.id, entry);
        this.#emit({ type: 'upsert', entry, previous });
        return;
      }
      case 'visible_memory_link': {
        const link = linkFromRow(row);
        const links = this.#links.get(link.memoryId) ?? [];
        this.#links.set(link.memoryId, [...links.filter((candidate) => candidate.id !== link.id), link]);
        return;
      }
      case 'visible_memory_compaction': {
        const run = compactionFromRow(row);
        this.#compactions.set(run.id, run);
        return;
      }
    }
  }

  #remove(table: string, row: BusRow): void {
    switch (table) {
      case 'visible_memory': {
        const entry = this.#entries.get(entryFromRow(row).id);
        if (entry === undefined) return;
        this.#entries.delete(entry.id);
        this.#emit({ type: 'delete', entry });
        return;
      }
      case 'visible_memory_link': {
        const link = linkFromRow(row);
        const remaining = (this.#links.get(link.memoryId) ?? []).filter((candidate) => candidate.id !== link.id);
        if (remaining.length === 0) this.#links.delete(link.memoryId);
        else this.#links.set(link.memoryId, remaining);
        return;
      }
      case 'visible_memory_compaction':
        this.#compactions.delete(compactionFromRow(row).id);
        return;
    }
  }

  #emit(change: MemoryStoreChange): void {
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch (error) {
        this.#logger.error({ err: error }, 'memory change listener failed');
      }
    }
  }
}
