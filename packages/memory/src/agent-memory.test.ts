import { ClawError } from '@clawfleet/protocol';
import { rejectionOf } from '@clawfleet/protocol/testing';
import { describe, expect, it } from 'vitest';
import { AgentMemory } from './agent-memory.ts';
import type { Embedder } from './embedding/embedder.ts';
import { explainRetrieval, type RankingWeights } from './retrieval/memory-index.ts';
import { HashingEmbedder } from './testing/hashing-embedder.ts';
import { InMemoryMemoryDatabase } from './testing/in-memory-memory-store.ts';
import { LABELLED_DISTRACTORS, LABELLED_MEMORIES, LABELLED_QUERIES } from './testing/labelled-memories.ts';

const NOW = 1_780_000_000_000;
const HOUR = 3_600_000;

async function labelledMemory(ranking?: Partial<RankingWeights>) {
  const clock = { now: NOW };
  const database = new InMemoryMemoryDatabase({ now: () => clock.now });
  const store = database.storeFor('DevClaw');
  const keys = new Map<number, string>();
  for (const memory of [...LABELLED_MEMORIES, ...LABELLED_DISTRACTORS]) {
    clock.now = NOW - memory.ageHours * HOUR;
    const entry = await store.write({
      tier: 'daily',
      importance: memory.importance,
      text: memory.text,
      tags: memory.tags,
    });
    keys.set(entry.id, memory.key);
  }
  clock.now = NOW;
  const memory = await AgentMemory.open({
    store,
    embedder: new HashingEmbedder(),
    now: () => NOW,
    ...(ranking ? { ranking } : {}),
  });
  await memory.whenIndexed();
  return { memory, keys, database };
}

/** Share of the labelled relevant memories that appear in the top 5 of their query. */
async function recallAt5(ranking?: Partial<RankingWeights>): Promise<number> {
  const { memory, keys } = await labelledMemory(ranking);
  let found = 0;
  let total = 0;
  for (const { query, relevant } of LABELLED_QUERIES) {
    const top = (await memory.retrieve(query, { limit: 5 })).map((result) => keys.get(result.entry.id));
    total += relevant.length;
    found += relevant.filter((key) => top.includes(key)).length;
  }
  await memory.dispose();
  return found / total;
}

describe('AgentMemory retrieval', () => {
  it('ranks the labelled set: recall@5 of the hybrid ranker, against lexical-only and embedding-only', async () => {
    const hybrid = await recallAt5();
    const lexicalOnly = await recallAt5({ embedding: 0, recency: 0, importance: 0 });
    const embeddingOnly = await recallAt5({ lexical: 0, recency: 0, importance: 0 });
    const noRelevance = await recallAt5({ lexical: 0, embedding: 0 });
    console.log(
      `recall@5 on ${LABELLED_QUERIES.length} labelled queries over ${LABELLED_MEMORIES.length + LABELLED_DISTRACTORS.length} memories: hybrid ${hybrid.toFixed(3)}, lexical only ${lexicalOnly.toFixed(3)}, embedding only ${embeddingOnly.toFixed(3)}, recency+importance only ${noRelevance.toFixed(3)}`,
    );
    expect(hybrid).toBeGreaterThanOrEqual(0.9);
    expect(hybrid).toBeGreaterThanOrEqual(Math.max(lexicalOnly, embeddingOnly));
    // A ranker that ignored the query would be far below the floor.
    expect(noRelevance).toBeLessThan(0.5);
  });

  it('explains each result: the score is the sum of its lexical, embedding, recency and importance parts', async () => {
    const { memory, keys } = await labelledMemory();
    const [best, ...rest] = await memory.retrieve('why did the deployment to staging fail', { limit: 5 });
    expect(keys.get(best!.entry.id)).toBe('vpn');
    for (const result of [best!, ...rest]) {
      const { lexical, embedding, recency, importance } = result.parts;
      expect(lexical + embedding + recency + importance).toBeCloseTo(result.score, 10);
      expect(importance).toBeCloseTo(0.15 * result.entry.importance, 10);
      expect(recency).toBeCloseTo(0.1 * 0.5 ** (result.signals.ageMs / (72 * HOUR)), 10);
    }
    expect(best!.signals.bm25).toBeGreaterThan(0);
    expect(best!.signals.similarity).toBeGreaterThan(0);
    expect(best!.signals.ageMs).toBe(30 * HOUR);
    expect(explainRetrieval(best!)).toMatch(
      new RegExp(
        `^#${best!.entry.id} \\d\\.\\d{3} = lexical .* \\+ embedding .* \\+ recency .*\\(30\\.0 h old\\) \\+ importance`,
      ),
    );
    await memory.dispose();
  });

  it('sees only its own and shared memories, following sharing as it happens', async () => {
    const database = new InMemoryMemoryDatabase();
    const alice = await AgentMemory.open({ store: database.storeFor('Alice'), embedder: new HashingEmbedder() });
    const bob = await AgentMemory.open({ store: database.storeFor('Bob'), embedder: new HashingEmbedder() });
    const secret = await alice.writeNote({ text: 'the staging password rotates on mondays', tags: ['Secrets Policy'] });
    expect(secret.tags).toEqual(['secrets-policy']);
    await bob.writeNote({ text: 'bob notes the staging server is slow' });
    const bobSees = async () => (await bob.retrieve('staging password')).map((result) => result.entry.agent);
    expect(await bobSees()).toEqual(['Bob']);
    await alice.share(secret.id);
    expect(await bobSees()).toContain('Alice');
    expect(await bob.retrieve('staging password', { owner: 'own' })).toHaveLength(1);
    await alice.unshare(secret.id);
    expect(await bobSees()).toEqual(['Bob']);
    await Promise.all([alice.dispose(), bob.dispose()]);
  });

  it('finds a new note at once (lexically), and by embedding once indexed', async () => {
    const database = new InMemoryMemoryDatabase();
    const memory = await AgentMemory.open({ store: database.storeFor('DevClaw'), embedder: new HashingEmbedder() });
    const note = await memory.writeNote({ text: 'kubernetes rollout stuck on pending pods', importance: 0.6 });
    const [immediate] = await memory.retrieve('rollout pending');
    expect(immediate?.entry.id).toBe(note.id);
    expect(immediate?.signals.bm25).toBeGreaterThan(0);
    expect(immediate?.signals.similarity).toBeNull();
    await memory.whenIndexed();
    const [later] = await memory.retrieve('kubernetes rollouts stuck on pending pods!');
    expect(later?.entry.id).toBe(note.id);
    expect(later?.signals.similarity).toBeGreaterThan(0.9);
    await memory.store.update(note.id, { text: 'the database failover test passed' });
    await memory.whenIndexed();
    expect(await memory.retrieve('rollout pending')).toEqual([]);
    // The text changed: the old words no longer find it, the new ones do.
    expect((await memory.retrieve('failover'))[0]?.entry.id).toBe(note.id);
    await memory.dispose();
  });

  it('skips archived entries unless asked, and filters by tier and tag', async () => {
    const database = new InMemoryMemoryDatabase();
    const memory = await AgentMemory.open({ store: database.storeFor('DevClaw'), embedder: new HashingEmbedder() });
    const source = await memory.writeNote({
      text: 'redis eviction policy is allkeys-lru',
      tier: 'daily',
      tags: ['redis'],
    });
    const run = await memory.store.beginCompaction([source.id]);
    const done = await memory.store.completeCompaction(run.id, [
      { text: 'redis evicts with allkeys-lru', importance: 0.7, tags: ['redis'], sourceIds: [source.id] },
    ]);
    const ids = async (options: Parameters<AgentMemory['retrieve']>[1]) =>
      (await memory.retrieve('redis eviction', options)).map((result) => result.entry.id);
    expect(await ids({})).toEqual(done.resultIds);
    expect((await ids({ includeArchived: true })).sort()).toEqual([source.id, ...done.resultIds].sort());
    expect(await ids({ tiers: ['daily'], includeArchived: true })).toEqual([source.id]);
    expect(await ids({ tags: ['postgres'] })).toEqual([]);
    expect(memory.links(done.resultIds[0]!).map((link) => [link.kind, link.targetId])).toEqual([['memory', source.id]]);
    await memory.dispose();
  });

  it('searches lexically when the query cannot be embedded, and embeds the entries later', async () => {
    const database = new InMemoryMemoryDatabase();
    let failing = true;
    const hashing = new HashingEmbedder();
    const flaky: Embedder = {
      id: 'flaky',
      embed: async (texts, options) => {
        if (failing) throw new ClawError('WORKER_CRASHED', 'inference worker is down');
        return hashing.embed(texts, options);
      },
      model: () => hashing.model(),
    };
    const memory = await AgentMemory.open({ store: database.storeFor('DevClaw'), embedder: flaky });
    await memory.writeNote({ text: 'grafana alert for disk usage above ninety percent' });
    const [result] = await memory.retrieve('grafana disk alert');
    expect(result?.signals.similarity).toBeNull();
    expect(result?.parts.embedding).toBe(0);
    expect(memory.pendingEmbeddings).toBe(1);
    failing = false;
    await memory.dispose();
  });

  it('rejects an empty query and a bad limit with INVALID_PARAMS', async () => {
    const database = new InMemoryMemoryDatabase();
    const memory = await AgentMemory.open({ store: database.storeFor('DevClaw'), embedder: new HashingEmbedder() });
    expect(await rejectionOf(memory.retrieve('  '))).toMatchObject({ code: 'INVALID_PARAMS' });
    expect(await rejectionOf(memory.retrieve('x', { limit: 0 }))).toMatchObject({
      code: 'INVALID_PARAMS',
      message: expect.stringContaining('Expected `limit` to be an integer 1-100, got `0`'),
    });
    expect(await rejectionOf(memory.retrieve('x'.repeat(2_001)))).toMatchObject({ code: 'INVALID_PARAMS' });
    await memory.dispose();
    expect(await rejectionOf(memory.retrieve('x'))).toMatchObject({ code: 'CONNECTION_CLOSED' });
  });
});
