import { mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rejectionOf } from '@clawfleet/protocol/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentMemory } from '../agent-memory.ts';
import { HashingEmbedder } from '../testing/hashing-embedder.ts';
import { InMemoryMemoryDatabase } from '../testing/in-memory-memory-store.ts';
import type { Embedder } from './embedder.ts';
import { FileEmbeddingCache, textDigest } from './embedding-cache.ts';

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});
function cachePath(): string {
  const directory = mkdtempSync(join(tmpdir(), 'claw-embedding-cache-'));
  directories.push(directory);
  return join(directory, 'state', 'embeddings.bin');
}

const MODEL = { key: 'sha256:aaaa', dimensions: 3 };
const record = (id: number, text: string, values: number[]) => ({
  id,
  textDigest: textDigest(text),
  vector: Float32Array.from(values),
});

describe('FileEmbeddingCache', () => {
  it('gives back what was saved for the same model, the last record of an id winning, across instances', async () => {
    const path = cachePath();
    const cache = new FileEmbeddingCache({ path });
    expect((await cache.load(MODEL)).size).toBe(0);
    await cache.save(MODEL, [record(1, 'one', [1, 0, 0]), record(2, 'two', [0, 1, 0])]);
    await cache.save(MODEL, [record(2, 'two, edited', [0, 0, 1]), record(2 ** 40, 'big id', [0.5, 0.5, 0])]);
    const loaded = await new FileEmbeddingCache({ path }).load(MODEL);
    expect([...loaded.keys()].sort((a, b) => a - b)).toEqual([1, 2, 2 ** 40]);
    expect(loaded.get(2)).toEqual({ textDigest: textDigest('two, edited'), vector: Float32Array.from([0, 0, 1]) });
    expect([...loaded.get(2 ** 40)!.vector]).toEqual([0.5, 0.5, 0]);
  });

  it('holds nothing for another model or dimension, and is replaced by the next save', async () => {
    const path = cachePath();
    const cache = new FileEmbeddingCache({ path });
    await cache.save(MODEL, [record(1, 'one', [1, 0, 0])]);
    const other = { key: 'sha256:bbbb', dimensions: 3 };
    expect((await cache.load(other)).size).toBe(0);
    expect((await cache.load({ ...MODEL, dimensions: 4 })).size).toBe(0);
    await cache.save(other, [record(5, 'five', [0, 1, 0])]);
    expect((await new FileEmbeddingCache({ path }).load(MODEL)).size).toBe(0);
    expect([...(await new FileEmbeddingCache({ path }).load(other)).keys()]).toEqual([5]);
  });

  it('survives a record cut short by a crash and a file that is not a cache', async () => {
    const path = cachePath();
    const cache = new FileEmbeddingCache({ path });
    await cache.save(MODEL, [record(1, 'one', [1, 0, 0]), record(2, 'two', [0, 1, 0])]);
    truncateSync(path, statSync(path).size - 5);
    const reopened = new FileEmbeddingCache({ path });
    expect([...(await reopened.load(MODEL)).keys()]).toEqual([1]);
    // The next record goes where the cut one began: the file holds whole records again.
    await reopened.save(MODEL, [record(3, 'three', [0, 0, 1])]);
    expect([...(await new FileEmbeddingCache({ path }).load(MODEL)).keys()]).toEqual([1, 3]);

    writeFileSync(path, 'not a cache at all');
    const garbage = new FileEmbeddingCache({ path });
    expect((await garbage.load(MODEL)).size).toBe(0);
    await garbage.save(MODEL, [record(4, 'four', [1, 0, 0])]);
    expect([...(await new FileEmbeddingCache({ path }).load(MODEL)).keys()]).toEqual([4]);
    expect(readFileSync(path).subarray(0, 8).toString()).toBe('CLAWEMB1');
  });

  it('rewrites to exactly the records given, and refuses a vector of the wrong length', async () => {
    const path = cachePath();
    const cache = new FileEmbeddingCache({ path });
    await cache.save(MODEL, [record(1, 'one', [1, 0, 0]), record(2, 'two', [0, 1, 0])]);
    await cache.rewrite(MODEL, [record(2, 'two', [0, 1, 0])]);
    expect([...(await new FileEmbeddingCache({ path }).load(MODEL)).keys()]).toEqual([2]);
    expect(await rejectionOf(cache.save(MODEL, [record(9, 'nine', [1, 0])]))).toMatchObject({
      code: 'INVALID_PARAMS',
      message: 'Expected a vector of 3 dimensions for memory 9, got 2',
    });
  });
});

/** The hashing embedder, counting the texts it embeds. */
function counting(dimensions = 64): Embedder & { texts: number } {
  const inner = new HashingEmbedder({ dimensions });
  const embedder = {
    id: inner.id,
    texts: 0,
    embed: async (texts: readonly string[]) => {
      embedder.texts += texts.length;
      return inner.embed(texts);
    },
    model: () => inner.model(),
  };
  return embedder;
}

describe('AgentMemory with an embedding cache (Q-060)', () => {
  it('after a restart embeds only the entries whose text or model changed', async () => {
    const path = cachePath();
    const database = new InMemoryMemoryDatabase();
    const open = (embedder: Embedder) =>
      AgentMemory.open({
        store: database.storeFor('DevClaw'),
        embedder,
        embeddingCache: new FileEmbeddingCache({ path }),
      });
    const first = counting();
    const memory = await open(first);
    const ids: number[] = [];
    for (let index = 0; index < 40; index++) {
      ids.push((await memory.writeNote({ text: `backup ${index} of volume ${index % 7} finished`, tier: 'daily' })).id);
    }
    await memory.whenIndexed();
    expect(first.texts).toBe(40);
    await memory.store.update(ids[3]!, { text: 'backup 3 failed: the disk was full' });
    await memory.whenIndexed();
    await memory.dispose();

    // Same model: nothing to embed, and vector search works from the stored vectors.
    const second = counting();
    const restarted = await open(second);
    await restarted.whenIndexed();
    expect(second.texts).toBe(0);
    expect(restarted.restoredEmbeddings).toBe(40);
    const [best] = await restarted.retrieve('backup 3 failed disk full', { limit: 1 });
    expect(best?.entry.id).toBe(ids[3]);
    expect(best?.signals.similarity).toBeGreaterThan(0.5);
    // The query is the only text embedded.
    expect(second.texts).toBe(1);
    // An entry changed while the agent was down is embedded again; the others are not.
    await restarted.dispose();
    const other = database.storeFor('DevClaw');
    await other.ready;
    await other.update(ids[5]!, { text: 'backup 5 was restored to staging' });
    await other.dispose();
    const third = counting();
    const again = await open(third);
    await again.whenIndexed();
    expect(third.texts).toBe(1);
    expect(again.restoredEmbeddings).toBe(39);
    await again.dispose();

    // Another model (here another dimension): everything is embedded again.
    const otherModel = counting(32);
    const remodelled = await open(otherModel);
    await remodelled.whenIndexed();
    expect(otherModel.texts).toBe(40);
    expect(remodelled.restoredEmbeddings).toBe(0);
    expect(remodelled.vector(ids[0]!)).toHaveLength(32);
    await remodelled.dispose();
  });

  it('still indexes everything when the cache cannot be written (a read-only or impossible folder)', async () => {
    const blocker = cachePath();
    writeFileSync(join(blocker, '..', '..', 'a-file'), 'x');
    const embedder = counting();
    const memory = await AgentMemory.open({
      store: new InMemoryMemoryDatabase().storeFor('DevClaw'),
      embedder,
      // A folder inside a regular file cannot be created.
      embeddingCache: new FileEmbeddingCache({ path: join(blocker, '..', '..', 'a-file', 'state', 'embeddings.bin') }),
    });
    for (let index = 0; index < 70; index++) await memory.writeNote({ text: `note ${index}`, tier: 'daily' });
    await memory.whenIndexed();
    expect(memory.pendingEmbeddings).toBe(0);
    expect(embedder.texts).toBe(70);
    expect(memory.vector(1)).toHaveLength(64);
    await memory.dispose();
  });
});
