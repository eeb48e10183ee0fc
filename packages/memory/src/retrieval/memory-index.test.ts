import { describe, expect, it } from 'vitest';
import type { MemoryEntry } from '../memory-entry.ts';
import { HashingEmbedder } from '../testing/hashing-embedder.ts';
import { ApproximateVectorIndex } from './approximate-vector-index.ts';
import { MemoryIndex } from './memory-index.ts';
import { VectorIndex } from './vector-index.ts';

const NOW = 1_780_000_000_000;
const embedder = new HashingEmbedder({ dimensions: 64 });

function entry(id: number, text: string, fields: Partial<MemoryEntry> = {}): MemoryEntry {
  return {
    id,
    agent: 'DevClaw',
    tier: 'daily',
    scope: 'private',
    importance: 0.5,
    text,
    tags: [],
    archived: false,
    compactionId: null,
    createdAt: NOW,
    updatedAt: NOW,
    ...fields,
  };
}

const TOPICS = [
  'kubernetes rollout',
  'postgres vacuum',
  'redis eviction',
  'nginx timeout',
  'docker prune',
  'tls renewal',
];
const texts = Array.from({ length: 600 }, (_, index) => `${TOPICS[index % TOPICS.length]} note number ${index}`);

describe('vector indexes', () => {
  it('exact index: finds the nearest vectors, forgets deleted ones, and moves the last into a freed slot', () => {
    const index = new VectorIndex(64, 2);
    for (const [id, text] of texts.slice(0, 50).entries()) index.set(id, embedder.embedOne(text));
    const query = embedder.embedOne(texts[7]!);
    expect(index.search(query, 1, () => true)[0]).toMatchObject({ id: 7 });
    index.delete(7);
    expect(index.search(query, 3, () => true).map((hit) => hit.id)).not.toContain(7);
    expect(index.similarity(49, embedder.embedOne(texts[49]!))).toBeCloseTo(1, 5);
    expect(index.size).toBe(49);
  });

  it('approximate index (hnswlib-node): same nearest neighbours as the exact scan on clear cases, with deletes and filters', () => {
    const exact = new VectorIndex(64);
    const graph = new ApproximateVectorIndex(64);
    texts.forEach((text, id) => {
      exact.set(id, embedder.embedOne(text));
      graph.set(id, embedder.embedOne(text));
    });
    for (const probe of [3, 100, 451]) {
      const query = embedder.embedOne(texts[probe]!);
      expect(graph.search(query, 1, () => true)[0]?.id).toBe(probe);
      const topExact = exact.search(query, 10, () => true).map((hit) => hit.id);
      const topGraph = graph.search(query, 10, () => true).map((hit) => hit.id);
      expect(topGraph.filter((id) => topExact.includes(id)).length).toBeGreaterThanOrEqual(8);
    }
    graph.delete(100);
    expect(graph.search(embedder.embedOne(texts[100]!), 5, () => true).map((hit) => hit.id)).not.toContain(100);
    expect(graph.search(embedder.embedOne(texts[100]!), 5, (id) => id % 2 === 1).every((hit) => hit.id % 2 === 1)).toBe(
      true,
    );
    graph.set(100, embedder.embedOne('something else entirely'));
    expect(graph.size).toBe(600);
  });

  it('memory index: switches to the graph past the threshold and ranks as the exact scan did', async () => {
    const exact = new MemoryIndex('DevClaw', {}, { approximateFrom: Number.POSITIVE_INFINITY });
    const approximate = new MemoryIndex('DevClaw', {}, { approximateFrom: 100, approximateBatch: 50 });
    for (const index of [exact, approximate]) {
      texts.forEach((text, id) => {
        index.upsert(entry(id + 1, text));
        index.setVector(id + 1, embedder.embedOne(text));
      });
    }
    expect(approximate.approximatePending).toBeGreaterThan(0);
    await approximate.whenApproximateBuilt();
    expect(approximate.usesApproximate).toBe(true);
    expect(exact.usesApproximate).toBe(false);
    const query = 'redis eviction note number 2';
    const ids = (index: MemoryIndex) =>
      index.search(query, embedder.embedOne(query), { limit: 5, now: NOW }).map((r) => r.entry.id);
    expect(ids(approximate)).toEqual(ids(exact));
    approximate.delete(ids(exact)[0]!);
    expect(ids(approximate)).not.toContain(ids(exact)[0]);
    approximate.dispose();
  });
});
