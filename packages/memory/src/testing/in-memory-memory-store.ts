import { ClawError } from '@clawfleet/protocol';
import {
  type CompactionRun,
  MEMORY_LINK_KINDS,
  MEMORY_SCOPES,
  MEMORY_TIERS,
  type MemoryEntry,
  type MemoryLink,
  type MemoryLinkInput,
  type MemoryScope,
} from '../memory-entry.ts';
import type {
  CompactedEntry,
  MemoryStore,
  MemoryStoreChange,
  MemoryUpdate,
  MemoryWrite,
  ReflectionWrite,
  StoreCallOptions,
} from '../store/memory-store.ts';

const TAG_PATTERN = /^[a-z0-9][a-z0-9_.:/-]*$/;

function reject(message: string): never {
  throw new ClawError('REDUCER_REJECTED', message);
}

/**
 * A fake database holding the memory of several agents, with the rules of db-module's memory
 * reducers (ownership, validation, private scope, compaction runs) re-stated in plain TypeScript.
 * `storeFor(agent)` gives that agent's MemoryStore. It passes `describeMemoryStoreContract`, so code
 * tested against it behaves the same on the bus. Unit tests only: nothing is persisted.
 */
export class InMemoryMemoryDatabase {
  readonly #entries = new Map<number, MemoryEntry>();
  readonly #links: MemoryLink[] = [];
  readonly #runs = new Map<number, CompactionRun>();
  readonly #stores = new Set<InMemoryMemoryStore>();
  #nextId = 1;
  #reflections = 0;
  readonly now: () => number;

  constructor(options: { now?: () => number } = {}) {
    this.now = options.now ?? Date.now;
  }

  storeFor(agent: string): InMemoryMemoryStore {
    const store = new InMemoryMemoryStore(this, agent);
    this.#stores.add(store);
    return store;
  }

  /** @internal */
  detach(store: InMemoryMemoryStore): void {
    this.#stores.delete(store);
  }

  /** @internal */
  visibleEntries(agent: string): MemoryEntry[] {
    return [...this.#entries.values()].filter((entry) => canSee(agent, entry));
  }

  /** @internal */
  visibleLinks(agent: string, memoryId: number): MemoryLink[] {
    const entry = this.#entries.get(memoryId);
    if (entry === undefined || !canSee(agent, entry)) return [];
    return this.#links.filter((link) => link.memoryId === memoryId);
  }

  /** @internal */
  runsOf(agent: string): CompactionRun[] {
    return [...this.#runs.values()].filter((run) => run.agent === agent);
  }

  write(agent: string, memory: MemoryWrite): MemoryEntry {
    requireOneOf('tier', memory.tier, MEMORY_TIERS);
    requireOneOf('scope', memory.scope ?? 'private', MEMORY_SCOPES);
    requireImportance(memory.importance);
    requireText('text', memory.text);
    requireTags(memory.tags ?? []);
    this.#requireLinks(agent, memory.links ?? []);
    const entry = this.#insert(agent, { ...memory, scope: memory.scope ?? 'private', tags: memory.tags ?? [] });
    this.#addLinks(entry.id, memory.links ?? []);
    return entry;
  }

  recordReflection(agent: string, reflection: ReflectionWrite): MemoryEntry {
    requireText('text', reflection.text);
    requireImportance(reflection.importance);
    requireTags(reflection.tags ?? []);
    this.#requireLinks(agent, reflection.links ?? []);
    const entry = this.#insert(agent, { ...reflection, tier: 'daily', scope: 'private', tags: reflection.tags ?? [] });
    const links: MemoryLinkInput[] = [{ kind: 'reflection', id: ++this.#reflections }];
    if (reflection.taskId !== undefined) links.push({ kind: 'task', id: reflection.taskId });
    this.#addLinks(entry.id, [...links, ...(reflection.links ?? [])]);
    return entry;
  }

  update(agent: string, id: number, update: MemoryUpdate): MemoryEntry {
    const entry = this.#requireChangeable(agent, id, 'change it');
    const next = { ...entry, ...definedOnly(update) };
    requireOneOf('tier', next.tier, MEMORY_TIERS);
    requireImportance(next.importance);
    requireText('text', next.text);
    requireTags(next.tags);
    return this.#replace({ ...next, tags: [...next.tags], updatedAt: this.now() });
  }

  setScope(agent: string, id: number, scope: MemoryScope): MemoryEntry {
    requireOneOf('scope', scope, MEMORY_SCOPES);
    const entry = this.#requireVisible(agent, id);
    if (entry.agent !== agent) reject(`Memory ${id} belongs to ${entry.agent}; only it may share it`);
    if (entry.scope === scope) reject(`Memory ${id} is already ${scope}`);
    return this.#replace({ ...entry, scope, updatedAt: this.now() });
  }

  delete(agent: string, id: number): void {
    const entry = this.#requireChangeable(agent, id, 'delete it');
    this.#entries.delete(id);
    for (let index = this.#links.length - 1; index >= 0; index--) {
      if (this.#links[index]!.memoryId === id) this.#links.splice(index, 1);
    }
    this.#publish(entry, undefined);
  }

  beginCompaction(agent: string, sourceIds: readonly number[]): CompactionRun {
    if (sourceIds.length < 1 || sourceIds.length > 64) {
      reject(`Expected \`source_ids\` to list 1-64 memories, got ${sourceIds.length}`);
    }
    if (new Set(sourceIds).size !== sourceIds.length) reject('Expected `source_ids` to list each memory once');
    const sources = sourceIds.map((id) => {
      const entry = this.#requireChangeable(agent, id, 'compact it');
      if (entry.tier === 'long') reject(`Memory ${id} is long-term already; compaction merges short-term and daily`);
      return entry;
    });
    const run: CompactionRun = {
      id: this.#nextId++,
      agent,
      state: 'open',
      sourceIds: [...sourceIds],
      resultIds: [],
      createdAt: this.now(),
      finishedAt: null,
    };
    this.#runs.set(run.id, run);
    for (const source of sources) this.#replace({ ...source, compactionId: run.id });
    return run;
  }

  completeCompaction(agent: string, runId: number, entries: readonly CompactedEntry[]): CompactionRun {
    const run = this.#requireOpenRun(agent, runId);
    if (entries.length < 1 || entries.length > 16) {
      reject(`Expected \`entries\` to list 1-16 long-term entries, got ${entries.length}`);
    }
    const covered = new Set<number>();
    entries.forEach((entry, index) => {
      requireText(`entries[${index}].text`, entry.text);
      requireImportance(entry.importance);
      requireTags(entry.tags);
      if (entry.sourceIds.length === 0) reject(`Expected \`entries[${index}].source_ids\` to name at least one source`);
      for (const id of entry.sourceIds) {
        if (!run.sourceIds.includes(id)) reject(`Memory ${id} is not a source of compaction run ${runId}`);
        covered.add(id);
      }
    });
    const missing = run.sourceIds.filter((id) => !covered.has(id));
    if (missing.length > 0) reject(`Expected every source to be summarised; missing ${missing.join(', ')}`);
    const resultIds: number[] = [];
    for (const entry of entries) {
      const shared = entry.sourceIds.every((id) => this.#entries.get(id)?.scope === 'shared');
      const written = this.#insert(agent, {
        tier: 'long',
        scope: shared ? 'shared' : 'private',
        importance: entry.importance,
        text: entry.text,
        tags: entry.tags,
        compactionId: run.id,
      });
      this.#addLinks(
        written.id,
        entry.sourceIds.map((id) => ({ kind: 'memory', id })),
      );
      resultIds.push(written.id);
    }
    for (const id of run.sourceIds) {
      const source = this.#entries.get(id)!;
      this.#replace({ ...source, archived: true, updatedAt: this.now() });
    }
    const done: CompactionRun = { ...run, state: 'done', resultIds, finishedAt: this.now() };
    this.#runs.set(run.id, done);
    return done;
  }

  abandonCompaction(agent: string, runId: number): void {
    const run = this.#requireOpenRun(agent, runId);
    for (const id of run.sourceIds) {
      const source = this.#entries.get(id);
      if (source?.compactionId === run.id) this.#replace({ ...source, compactionId: null });
    }
    this.#runs.set(run.id, { ...run, state: 'abandoned', finishedAt: this.now() });
  }

  #insert(
    agent: string,
    fields: Pick<MemoryEntry, 'tier' | 'scope' | 'importance' | 'text'> & {
      tags: readonly string[];
      compactionId?: number;
    },
  ): MemoryEntry {
    const now = this.now();
    const entry: MemoryEntry = {
      id: this.#nextId++,
      agent,
      tier: fields.tier,
      scope: fields.scope,
      importance: fields.importance,
      text: fields.text,
      tags: [...fields.tags],
      archived: false,
      compactionId: fields.compactionId ?? null,
      createdAt: now,
      updatedAt: now,
    };
    this.#entries.set(entry.id, entry);
    this.#publish(undefined, entry);
    return entry;
  }

  #replace(entry: MemoryEntry): MemoryEntry {
    const previous = this.#entries.get(entry.id);
    this.#entries.set(entry.id, entry);
    this.#publish(previous, entry);
    return entry;
  }

  #addLinks(memoryId: number, links: readonly MemoryLinkInput[]): void {
    for (const link of links) this.#links.push({ id: this.#nextId++, memoryId, kind: link.kind, targetId: link.id });
  }

  #requireVisible(agent: string, id: number): MemoryEntry {
    const entry = this.#entries.get(id);
    if (entry === undefined || !canSee(agent, entry)) reject(`Memory ${id} does not exist`);
    return entry;
  }

  #requireChangeable(agent: string, id: number, action: string): MemoryEntry {
    const entry = this.#requireVisible(agent, id);
    if (entry.agent !== agent) reject(`Memory ${id} belongs to ${entry.agent}; only it may ${action}`);
    if (entry.archived) reject(`Memory ${id} is archived (compacted into long-term memory); it cannot change`);
    if (entry.compactionId !== null && this.#runs.get(entry.compactionId)?.state === 'open') {
      reject(`Memory ${id} is being compacted (run ${entry.compactionId}); it cannot change until the run ends`);
    }
    return entry;
  }

  #requireOpenRun(agent: string, runId: number): CompactionRun {
    const run = this.#runs.get(runId);
    if (run === undefined || run.agent !== agent) reject(`Compaction run ${runId} does not exist`);
    if (run.state !== 'open') reject(`Compaction run ${runId} is ${run.state} already`);
    return run;
  }

  #requireLinks(agent: string, links: readonly MemoryLinkInput[]): void {
    if (links.length > 64) reject(`Expected \`links\` to list at most 64 links, got ${links.length}`);
    const seen = new Set<string>();
    for (const link of links) {
      requireOneOf('links[].kind', link.kind, MEMORY_LINK_KINDS);
      const key = `${link.kind}:${link.id}`;
      if (seen.has(key)) reject(`Expected \`links\` to list each link once, got ${key} twice`);
      seen.add(key);
      if (link.kind === 'memory') this.#requireVisible(agent, link.id);
    }
  }

  #publish(before: MemoryEntry | undefined, after: MemoryEntry | undefined): void {
    for (const store of this.#stores) {
      const sawBefore = before !== undefined && canSee(store.agent, before);
      const seesAfter = after !== undefined && canSee(store.agent, after);
      if (seesAfter) store.notify({ type: 'upsert', entry: after, previous: sawBefore ? before : undefined });
      else if (sawBefore) store.notify({ type: 'delete', entry: before });
    }
  }
}

function canSee(agent: string, entry: MemoryEntry): boolean {
  return entry.scope === 'shared' || entry.agent === agent;
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as Partial<T>;
}

function requireOneOf(field: string, value: string, allowed: readonly string[]): void {
  if (!allowed.includes(value)) reject(`Expected \`${field}\` to be one of ${allowed.join(', ')}, got \`${value}\``);
}

function requireImportance(value: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 1) {
    reject(`Expected \`importance\` to be a number 0-1, got \`${value}\` (${typeof value})`);
  }
}

function requireText(field: string, value: string): void {
  if (value.trim().length === 0) reject(`Expected \`${field}\` to be non-empty text, got an empty string`);
  if (value.length > 8_000) reject(`Expected \`${field}\` to be at most 8000 characters, got ${value.length}`);
}

function requireTags(tags: readonly string[]): void {
  if (tags.length > 16) reject(`Expected \`tags\` to list at most 16 tags, got ${tags.length}`);
  for (const tag of tags) {
    if (tag.length > 40 || !TAG_PATTERN.test(tag)) {
      reject(
        `Expected each tag to be 1-40 lowercase letters, digits or _.:/- starting with a letter or digit, got \`${tag}\``,
      );
    }
  }
  if (new Set(tags).size !== tags.length) reject('Expected `tags` to list each tag once');
}

/** One agent's view of an InMemoryMemoryDatabase. Calls are synchronous underneath, like a local bus. */
export class InMemoryMemoryStore implements MemoryStore {
  readonly agent: string;
  readonly ready: Promise<void> = Promise.resolve();
  readonly #database: InMemoryMemoryDatabase;
  readonly #listeners = new Set<(change: MemoryStoreChange) => void>();

  constructor(database: InMemoryMemoryDatabase, agent: string) {
    this.#database = database;
    this.agent = agent;
  }

  entries(): MemoryEntry[] {
    return this.#database.visibleEntries(this.agent).sort((a, b) => a.id - b.id);
  }

  entry(id: number): MemoryEntry | undefined {
    return this.#database.visibleEntries(this.agent).find((entry) => entry.id === id);
  }

  links(memoryId: number): MemoryLink[] {
    return this.#database.visibleLinks(this.agent, memoryId);
  }

  compactions(): CompactionRun[] {
    return this.#database.runsOf(this.agent);
  }

  onChange(listener: (change: MemoryStoreChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** @internal */
  notify(change: MemoryStoreChange): void {
    for (const listener of this.#listeners) listener(change);
  }

  async write(memory: MemoryWrite, options: StoreCallOptions = {}): Promise<MemoryEntry> {
    options.signal?.throwIfAborted();
    return this.#database.write(this.agent, memory);
  }

  async recordReflection(reflection: ReflectionWrite, options: StoreCallOptions = {}): Promise<MemoryEntry> {
    options.signal?.throwIfAborted();
    return this.#database.recordReflection(this.agent, reflection);
  }

  async update(id: number, update: MemoryUpdate, options: StoreCallOptions = {}): Promise<MemoryEntry> {
    options.signal?.throwIfAborted();
    return this.#database.update(this.agent, id, update);
  }

  async setScope(id: number, scope: MemoryScope, options: StoreCallOptions = {}): Promise<MemoryEntry> {
    options.signal?.throwIfAborted();
    return this.#database.setScope(this.agent, id, scope);
  }

  async delete(id: number, options: StoreCallOptions = {}): Promise<void> {
    options.signal?.throwIfAborted();
    this.#database.delete(this.agent, id);
  }

  async beginCompaction(sourceIds: readonly number[], options: StoreCallOptions = {}): Promise<CompactionRun> {
    options.signal?.throwIfAborted();
    return this.#database.beginCompaction(this.agent, sourceIds);
  }

  async completeCompaction(
    runId: number,
    entries: readonly CompactedEntry[],
    options: StoreCallOptions = {},
  ): Promise<CompactionRun> {
    options.signal?.throwIfAborted();
    return this.#database.completeCompaction(this.agent, runId, entries);
  }

  async abandonCompaction(runId: number, options: StoreCallOptions = {}): Promise<void> {
    options.signal?.throwIfAborted();
    this.#database.abandonCompaction(this.agent, runId);
  }

  async dispose(): Promise<void> {
    this.#listeners.clear();
    this.#database.detach(this);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
