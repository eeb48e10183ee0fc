import { ClawError, isClawError, type Logger, silentLogger } from '@clawfleet/protocol';
import type { AgentMemory } from '../agent-memory.ts';
import type { CompactionRun, MemoryEntry } from '../memory-entry.ts';
import type { Summarizer } from './summarizer.ts';

export interface CompactionOptions {
  /** Compaction starts when the agent's daily memory (unarchived) holds more entries than this. @default 200 */
  thresholdEntries?: number;
  /** ... or more characters of text than this. @default 200000 */
  thresholdCharacters?: number;
  /** Once started, it compacts until the daily memory is at most this share of the thresholds. @default 0.5 */
  targetShare?: number;
  /** Entries merged into one long-term entry, at most. @default 8 */
  groupSize?: number;
  /** Entries join a group when they share a tag with its first entry or are this similar by embedding. @default 0.5 */
  groupSimilarity?: number;
  /** Short-term entries older than this move to the daily tier. @default 1 hour */
  shortTermMaxAgeMs?: number;
}

export interface MemoryCompactorOptions extends CompactionOptions {
  memory: AgentMemory;
  summarizer: Summarizer;
  logger?: Logger;
  /** @default Date.now */
  now?: () => number;
}

/** What one `run()` did. */
export interface CompactionReport {
  /** Runs left open by an earlier, interrupted `run()` (e.g. a crash) that this one finished. */
  resumed: number[];
  /** Runs started and finished by this `run()`. */
  completed: number[];
  /** Long-term entries written. */
  written: number[];
  /** Short-term entries moved to the daily tier. */
  promoted: number;
  /** A run given up because its summary failed twice; its sources were released. */
  abandoned: number[];
}

const DEFAULTS = {
  thresholdEntries: 200,
  thresholdCharacters: 200_000,
  targetShare: 0.5,
  groupSize: 8,
  groupSimilarity: 0.5,
  shortTermMaxAgeMs: 3_600_000,
} satisfies Required<CompactionOptions>;

/**
 * Moves an agent's memory down the tiers: short-term entries older than `shortTermMaxAgeMs` become
 * daily ones, and when the daily memory passes a threshold, groups of related daily entries are
 * merged into long-term entries by a `compaction`-priority model call.
 *
 * Nothing is lost or done twice when it is interrupted (aborted, a crash, a restart):
 * - a group is claimed in the database (`begin_memory_compaction`) before the model is asked, so no
 *   other run takes the same entries and they cannot change meanwhile;
 * - the long-term entry, its links to every source and the archiving of the sources are written in
 *   one transaction (`complete_memory_compaction`), which the database accepts once per run;
 * - a run left open is found in the database by the next `run()` (of this or a restarted process)
 *   and finished first, with the same sources.
 * Aborting `run()` (say, the agent has work to do) leaves the current run open for next time.
 */
export class MemoryCompactor {
  readonly #memory: AgentMemory;
  readonly #summarizer: Summarizer;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #options: Required<CompactionOptions>;
  #running: Promise<CompactionReport> | undefined;

  constructor(options: MemoryCompactorOptions) {
    this.#memory = options.memory;
    this.#summarizer = options.summarizer;
    this.#logger = (options.logger ?? silentLogger).child({
      component: 'memory-compaction',
      agent: options.memory.agent,
    });
    this.#now = options.now ?? Date.now;
    const given = Object.fromEntries(
      Object.entries(options).filter(([key, value]) => key in DEFAULTS && value !== undefined),
    ) as CompactionOptions;
    this.#options = { ...DEFAULTS, ...given };
    for (const key of ['thresholdEntries', 'thresholdCharacters', 'groupSize'] as const) {
      const value = this.#options[key];
      if (!Number.isInteger(value) || value < 1) {
        throw new ClawError('CONFIG_INVALID', `Expected \`${key}\` to be a positive integer, got \`${value}\``);
      }
    }
    if (!(this.#options.targetShare > 0 && this.#options.targetShare <= 1)) {
      throw new ClawError(
        'CONFIG_INVALID',
        `Expected \`targetShare\` to be a number in (0, 1], got \`${this.#options.targetShare}\``,
      );
    }
  }

  /** The agent's unarchived daily entries not held by a compaction run, oldest first. */
  dailyEntries(): MemoryEntry[] {
    const open = this.#openRunIds();
    return this.#own().filter(
      (entry) =>
        entry.tier === 'daily' && !entry.archived && (entry.compactionId === null || !open.has(entry.compactionId)),
    );
  }

  /** True when the daily memory has passed a threshold (`run()` would compact). */
  needsCompaction(): boolean {
    return this.#over(1);
  }

  /**
   * Runs `run()` every `intervalMs` (and once soon after starting) for as long as the returned
   * handle is not disposed: how an agent process keeps its memory compacted without anyone calling
   * it. Each run is at `compaction` priority, so it waits behind the agent's own inference; a run
   * still going when the handle is disposed is aborted (its compaction run resumes next time).
   * Failures are logged, never thrown.
   */
  schedule(options: { intervalMs?: number; firstDelayMs?: number } = {}): { dispose(): Promise<void> } {
    const intervalMs = options.intervalMs ?? 10 * 60_000;
    const controller = new AbortController();
    let current: Promise<unknown> = Promise.resolve();
    const tick = () => {
      if (controller.signal.aborted) return;
      current = this.run({ signal: controller.signal })
        .then((report) => {
          if (report.written.length + report.promoted + report.abandoned.length > 0) {
            this.#logger.info({ ...report }, 'memory maintenance done');
          }
        })
        .catch((error: unknown) => {
          if (!controller.signal.aborted)
            this.#logger.warn({ err: error }, 'memory maintenance failed; retrying later');
        })
        .finally(() => {
          if (!controller.signal.aborted) timer = setTimeout(tick, intervalMs).unref();
        });
    };
    let timer = setTimeout(tick, options.firstDelayMs ?? 30_000).unref();
    return {
      async dispose() {
        controller.abort();
        clearTimeout(timer);
        await current;
      },
    };
  }

  /**
   * Finishes interrupted runs, promotes old short-term entries, and compacts while the daily memory
   * is above its target. One call at a time: a second call while one runs gets the same promise.
   * Rejects CANCELLED when aborted (the run in progress stays open and is finished next time).
   */
  run(options: { signal?: AbortSignal } = {}): Promise<CompactionReport> {
    this.#running ??= this.#run(options.signal).finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #run(signal: AbortSignal | undefined): Promise<CompactionReport> {
    const report: CompactionReport = { resumed: [], completed: [], written: [], promoted: 0, abandoned: [] };
    const store = this.#memory.store;
    for (const run of store.compactions().filter((candidate) => candidate.state === 'open')) {
      signal?.throwIfAborted();
      if (await this.#finish(run, report, signal)) report.resumed.push(run.id);
    }
    const cutoff = this.#now() - this.#options.shortTermMaxAgeMs;
    const open = this.#openRunIds();
    for (const entry of this.#own()) {
      const held = entry.compactionId !== null && open.has(entry.compactionId);
      if (entry.tier !== 'short' || entry.archived || held || entry.createdAt > cutoff) continue;
      signal?.throwIfAborted();
      await store.update(entry.id, { tier: 'daily' }, signal === undefined ? {} : { signal });
      report.promoted++;
    }
    if (!this.#over(1)) return report;
    while (this.#over(this.#options.targetShare)) {
      signal?.throwIfAborted();
      const group = this.#nextGroup();
      if (group.length === 0) break;
      const run = await store.beginCompaction(
        group.map((entry) => entry.id),
        signal === undefined ? {} : { signal },
      );
      this.#logger.info({ run: run.id, sources: run.sourceIds }, 'compaction run started');
      if (await this.#finish(run, report, signal)) report.completed.push(run.id);
      else break;
    }
    return report;
  }

  /** Summarises an open run's sources and completes it; false when it had to be abandoned. */
  async #finish(run: CompactionRun, report: CompactionReport, signal: AbortSignal | undefined): Promise<boolean> {
    const store = this.#memory.store;
    const sources = run.sourceIds.map((id) => store.entry(id)).filter((entry) => entry !== undefined);
    let lastError: unknown;
    for (let attempt = 0; attempt < 2; attempt++) {
      let summary: Awaited<ReturnType<Summarizer['summarize']>>;
      try {
        summary = await this.#summarizer.summarize(sources, signal === undefined ? {} : { signal });
      } catch (error) {
        // Cancelled (by us or the caller): leave the run open; the next run() resumes it.
        if (signal?.aborted || isClawError(error, 'CANCELLED')) {
          throw new ClawError('CANCELLED', `Compaction run ${run.id} interrupted; it resumes next time`, {
            cause: error,
          });
        }
        lastError = error;
        this.#logger.warn({ err: error, run: run.id, attempt }, 'compaction summary failed');
        continue;
      }
      const importance = Math.max(...sources.map((entry) => entry.importance));
      const tags = summary.tags.length > 0 ? summary.tags : commonTags(sources);
      const done = await store.completeCompaction(
        run.id,
        [{ text: summary.text, importance, tags, sourceIds: run.sourceIds }],
        signal === undefined ? {} : { signal },
      );
      report.written.push(...done.resultIds);
      this.#logger.info({ run: run.id, written: done.resultIds }, 'compaction run completed');
      return true;
    }
    await store.abandonCompaction(run.id);
    report.abandoned.push(run.id);
    this.#logger.error({ err: lastError, run: run.id }, 'compaction run abandoned; its sources stay in daily memory');
    return false;
  }

  /** The oldest free daily entry and the related entries after it (shared tag or similar embedding). */
  #nextGroup(): MemoryEntry[] {
    const [seed, ...rest] = this.dailyEntries();
    if (seed === undefined) return [];
    const group = [seed];
    const seedTags = new Set(seed.tags);
    const seedVector = this.#memory.vector(seed.id);
    for (const candidate of rest) {
      if (group.length >= this.#options.groupSize) break;
      const sharesTag = candidate.tags.some((tag) => seedTags.has(tag));
      const vector = this.#memory.vector(candidate.id);
      const similar =
        seedVector !== undefined && vector !== undefined && dot(seedVector, vector) >= this.#options.groupSimilarity;
      if (sharesTag || similar) group.push(candidate);
    }
    return group;
  }

  #over(share: number): boolean {
    const daily = this.dailyEntries();
    const characters = daily.reduce((sum, entry) => sum + entry.text.length, 0);
    return (
      daily.length > this.#options.thresholdEntries * share || characters > this.#options.thresholdCharacters * share
    );
  }

  #own(): MemoryEntry[] {
    const agent = this.#memory.agent;
    return this.#memory.store
      .entries()
      .filter((entry) => entry.agent === agent)
      .sort((a, b) => a.createdAt - b.createdAt || a.id - b.id);
  }

  #openRunIds(): Set<number> {
    return new Set(
      this.#memory.store
        .compactions()
        .filter((run) => run.state === 'open')
        .map((run) => run.id),
    );
  }
}

function dot(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return 0;
  let sum = 0;
  for (let index = 0; index < a.length; index++) sum += a[index]! * b[index]!;
  return sum;
}

/** Up to five tags that most sources carry. */
function commonTags(entries: readonly MemoryEntry[]): string[] {
  const counts = new Map<string, number>();
  for (const entry of entries) for (const tag of entry.tags) counts.set(tag, (counts.get(tag) ?? 0) + 1);
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, 5)
    .map(([tag]) => tag);
}
