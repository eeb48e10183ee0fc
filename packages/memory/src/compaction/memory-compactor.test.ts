import { ClawError } from '@clawfleet/protocol';
import { rejectionOf } from '@clawfleet/protocol/testing';
import { describe, expect, it } from 'vitest';
import { AgentMemory } from '../agent-memory.ts';
import type { MemoryEntry } from '../memory-entry.ts';
import { HashingEmbedder } from '../testing/hashing-embedder.ts';
import { InMemoryMemoryDatabase } from '../testing/in-memory-memory-store.ts';
import { MemoryCompactor } from './memory-compactor.ts';
import type { Summarizer } from './summarizer.ts';

const NOW = 1_780_000_000_000;

/** Joins the sources' texts: every fact survives, so tests can check what went where. */
const joining: Summarizer = {
  summarize: async (entries) => ({ text: entries.map((entry) => entry.text).join(' | '), tags: [] }),
};

async function agentWithDaily(count: number, topics = ['vpn', 'disk', 'tls']) {
  const database = new InMemoryMemoryDatabase({ now: () => NOW });
  const store = database.storeFor('OpsClaw');
  for (let index = 0; index < count; index++) {
    const topic = topics[index % topics.length]!;
    await store.write({ tier: 'daily', importance: (index % 10) / 10, text: `${topic} note ${index}`, tags: [topic] });
  }
  const memory = await AgentMemory.open({ store, embedder: new HashingEmbedder(), now: () => NOW });
  await memory.whenIndexed();
  return { database, store, memory };
}

/** Every long-term entry, with the source ids its links name. */
function longTerm(entries: MemoryEntry[], links: (id: number) => { kind: string; targetId: number }[]) {
  return entries
    .filter((entry) => entry.tier === 'long')
    .map((entry) => ({ entry, sources: links(entry.id).map((link) => link.targetId) }));
}

describe('MemoryCompactor', () => {
  it('does nothing below the threshold', async () => {
    const { memory } = await agentWithDaily(10);
    const compactor = new MemoryCompactor({ memory, summarizer: joining, thresholdEntries: 10, now: () => NOW });
    expect(compactor.needsCompaction()).toBe(false);
    expect(await compactor.run()).toMatchObject({ completed: [], written: [] });
  });

  it('merges related entries into long-term ones, archiving every source with a link from its summary', async () => {
    const { memory, store } = await agentWithDaily(12);
    const before = store.entries();
    const compactor = new MemoryCompactor({
      memory,
      summarizer: joining,
      thresholdEntries: 8,
      groupSize: 4,
      now: () => NOW,
    });
    expect(compactor.needsCompaction()).toBe(true);
    const report = await compactor.run();
    expect(compactor.dailyEntries().length).toBeLessThanOrEqual(4);
    const merged = longTerm(store.entries(), (id) => store.links(id));
    expect(merged.map((item) => item.entry.id)).toEqual(report.written);
    for (const { entry, sources } of merged) {
      const sourceEntries = sources.map((id) => store.entry(id)!);
      // Related: one topic per group; archived, not deleted; the summary keeps every source's text.
      expect(new Set(sourceEntries.map((source) => source.tags[0])).size).toBe(1);
      expect(sourceEntries.every((source) => source.archived)).toBe(true);
      expect(entry.text.split(' | ').sort()).toEqual(sourceEntries.map((source) => source.text).sort());
      expect(entry.importance).toBe(Math.max(...sourceEntries.map((source) => source.importance)));
      expect(entry.tags).toEqual([sourceEntries[0]!.tags[0]]);
    }
    // Nothing lost: every original entry is still there, with its text.
    for (const original of before) expect(store.entry(original.id)?.text).toBe(original.text);
  });

  it('resumes a run interrupted mid-summary without losing or duplicating anything', async () => {
    const { memory, store } = await agentWithDaily(9, ['vpn']);
    const controller = new AbortController();
    const interrupted: Summarizer = {
      summarize: async () => {
        controller.abort();
        throw new ClawError('CANCELLED', 'slot taken by a human request');
      },
    };
    const first = new MemoryCompactor({
      memory,
      summarizer: interrupted,
      thresholdEntries: 6,
      groupSize: 4,
      now: () => NOW,
    });
    expect(await rejectionOf(first.run({ signal: controller.signal }))).toMatchObject({ code: 'CANCELLED' });
    const [open] = store.compactions();
    expect(open).toMatchObject({ state: 'open' });
    expect(longTerm(store.entries(), (id) => store.links(id))).toEqual([]);

    // A restarted agent: a new compactor finds the open run in the database and finishes it first.
    const restarted = new MemoryCompactor({
      memory,
      summarizer: joining,
      thresholdEntries: 6,
      groupSize: 4,
      now: () => NOW,
    });
    const report = await restarted.run();
    expect(report.resumed).toEqual([open!.id]);
    const merged = longTerm(store.entries(), (id) => store.links(id));
    const allSources = merged.flatMap((item) => item.sources);
    expect(new Set(allSources).size).toBe(allSources.length);
    expect(merged.find((item) => item.entry.compactionId === open!.id)?.sources).toEqual(open!.sourceIds);
    expect(store.compactions().every((run) => run.state === 'done')).toBe(true);
  });

  it('does not write twice when the completion committed but its reply was lost', async () => {
    const { memory, store } = await agentWithDaily(9, ['vpn']);
    const complete = store.completeCompaction.bind(store);
    let lose = true;
    store.completeCompaction = async (...args) => {
      const run = await complete(...args);
      if (lose) {
        lose = false;
        throw new ClawError('CONNECTION_CLOSED', 'connection lost before the reply');
      }
      return run;
    };
    const compactor = new MemoryCompactor({
      memory,
      summarizer: joining,
      thresholdEntries: 6,
      groupSize: 4,
      now: () => NOW,
    });
    expect(await rejectionOf(compactor.run())).toMatchObject({ code: 'CONNECTION_CLOSED' });
    const afterLoss = longTerm(store.entries(), (id) => store.links(id)).length;
    expect(afterLoss).toBe(1);
    await compactor.run();
    const merged = longTerm(store.entries(), (id) => store.links(id));
    const allSources = merged.flatMap((item) => item.sources);
    expect(new Set(allSources).size).toBe(allSources.length);
    expect(merged.length).toBe(store.compactions().length);
  });

  it('gives a run up after two failed summaries and releases its sources', async () => {
    const { memory, store } = await agentWithDaily(4, ['vpn']);
    let calls = 0;
    const broken: Summarizer = {
      summarize: async () => {
        calls++;
        throw new ClawError('OUTPUT_INVALID', 'truncated JSON');
      },
    };
    const compactor = new MemoryCompactor({ memory, summarizer: broken, thresholdEntries: 2, now: () => NOW });
    const report = await compactor.run();
    expect(calls).toBe(2);
    expect(report.abandoned).toHaveLength(1);
    expect(store.entries().every((entry) => !entry.archived && entry.tier === 'daily')).toBe(true);
    expect(compactor.dailyEntries()).toHaveLength(4);
  });

  it('moves short-term entries older than the window to the daily tier', async () => {
    const clock = { now: NOW - 2 * 3_600_000 };
    const database = new InMemoryMemoryDatabase({ now: () => clock.now });
    const store = database.storeFor('DevClaw');
    const old = await store.write({ tier: 'short', importance: 0.5, text: 'an old cycle note' });
    clock.now = NOW;
    const recent = await store.write({ tier: 'short', importance: 0.5, text: 'a note of this cycle' });
    const memory = await AgentMemory.open({ store, embedder: new HashingEmbedder(), now: () => NOW });
    const compactor = new MemoryCompactor({ memory, summarizer: joining, now: () => NOW });
    expect((await compactor.run()).promoted).toBe(1);
    expect([store.entry(old.id)?.tier, store.entry(recent.id)?.tier]).toEqual(['daily', 'short']);
  });

  it('keeps memory compacted on a schedule until disposed', async () => {
    const { memory, store } = await agentWithDaily(6, ['vpn']);
    const compactor = new MemoryCompactor({ memory, summarizer: joining, thresholdEntries: 4, now: () => NOW });
    const schedule = compactor.schedule({ intervalMs: 10, firstDelayMs: 0 });
    for (let attempt = 0; attempt < 200 && compactor.needsCompaction(); attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await schedule.dispose();
    expect(compactor.needsCompaction()).toBe(false);
    expect(store.entries().some((entry) => entry.tier === 'long')).toBe(true);
  });

  it('refuses bad thresholds with CONFIG_INVALID', async () => {
    const { memory } = await agentWithDaily(1);
    expect(() => new MemoryCompactor({ memory, summarizer: joining, thresholdEntries: 0 })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
  });
});
