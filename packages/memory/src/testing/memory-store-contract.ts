import { isClawError } from '@clawfleet/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import type { MemoryEntry } from '../memory-entry.ts';
import type { MemoryStore, MemoryStoreChange } from '../store/memory-store.ts';

/** A fresh database with the agents `Alice` and `Bob` registered. */
export interface MemoryStoreHarness {
  open(agent: 'Alice' | 'Bob'): Promise<MemoryStore>;
  dispose(): Promise<void>;
}

async function rejection(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    if (isClawError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('Expected a rejection');
}

/** Waits until `predicate` holds: stores over a bus see other agents' changes a moment later. */
async function eventually(predicate: () => boolean, what: string): Promise<void> {
  for (let attempt = 0; attempt < 400; attempt++) {
    if (predicate()) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`Timed out waiting for ${what}`);
}

/**
 * What every MemoryStore must do, whichever database is behind it: ownership and private scope,
 * validation, change notifications, reflections with links, and compaction runs that archive
 * instead of deleting and complete at most once.
 */
export function describeMemoryStoreContract(name: string, createHarness: () => Promise<MemoryStoreHarness>): void {
  describe(`MemoryStore contract: ${name}`, () => {
    let harness: MemoryStoreHarness | undefined;
    const stores: MemoryStore[] = [];
    const open = async (agent: 'Alice' | 'Bob') => {
      harness ??= await createHarness();
      const store = await harness.open(agent);
      await store.ready;
      stores.push(store);
      return store;
    };
    afterEach(async () => {
      for (const store of stores.splice(0)) await store.dispose();
      await harness?.dispose();
      harness = undefined;
    });

    const note = { tier: 'daily', importance: 0.4, text: 'staging deploy needs the VPN' } as const;

    it('writes an own entry, stamped by the database, and reports it to listeners', async () => {
      const alice = await open('Alice');
      const changes: MemoryStoreChange[] = [];
      alice.onChange((change) => changes.push(change));
      const entry = await alice.write({ ...note, tags: ['deploy', 'staging'] });
      expect(entry).toMatchObject({
        agent: 'Alice',
        tier: 'daily',
        scope: 'private',
        importance: 0.4,
        text: note.text,
        tags: ['deploy', 'staging'],
        archived: false,
        compactionId: null,
      });
      expect(entry.createdAt).toBe(entry.updatedAt);
      expect(alice.entry(entry.id)).toEqual(entry);
      expect(alice.entries().map((candidate) => candidate.id)).toEqual([entry.id]);
      expect(changes).toEqual([{ type: 'upsert', entry, previous: undefined }]);
    });

    it('keeps private entries from other agents until shared, and takes them back when unshared', async () => {
      const alice = await open('Alice');
      const bob = await open('Bob');
      const bobChanges: MemoryStoreChange[] = [];
      bob.onChange((change) => bobChanges.push(change));
      const entry = await alice.write(note);
      const other = await bob.write({ ...note, text: 'bob only' });
      await eventually(() => bob.entry(other.id) !== undefined, "Bob's own entry");
      expect(bob.entry(entry.id)).toBeUndefined();
      expect(alice.entry(other.id)).toBeUndefined();
      expect(bobChanges.map((change) => change.entry.id)).toEqual([other.id]);

      const shared = await alice.setScope(entry.id, 'shared');
      expect(shared.scope).toBe('shared');
      await eventually(() => bob.entry(entry.id) !== undefined, 'the shared entry to reach Bob');
      expect(bobChanges.at(-1)).toMatchObject({ type: 'upsert', entry: { id: entry.id, scope: 'shared' } });

      await alice.setScope(entry.id, 'private');
      await eventually(() => bob.entry(entry.id) === undefined, 'the entry to leave Bob');
      expect(bobChanges.at(-1)).toMatchObject({ type: 'delete', entry: { id: entry.id } });
    });

    it("refuses changes to another agent's entries, reporting private ones as missing", async () => {
      const alice = await open('Alice');
      const bob = await open('Bob');
      const secret = await alice.write(note);
      const shared = await alice.write({ ...note, scope: 'shared', text: 'for everyone' });
      await eventually(() => bob.entry(shared.id) !== undefined, 'the shared entry');
      expect(await rejection(bob.setScope(secret.id, 'shared'))).toMatchObject({
        code: 'REDUCER_REJECTED',
        message: expect.stringContaining(`Memory ${secret.id} does not exist`),
      });
      expect(await rejection(bob.delete(shared.id))).toMatchObject({
        code: 'REDUCER_REJECTED',
        message: expect.stringContaining('belongs to Alice'),
      });
      expect(await rejection(bob.setScope(shared.id, 'private'))).toMatchObject({ code: 'REDUCER_REJECTED' });
      expect(alice.entry(shared.id)?.scope).toBe('shared');
    });

    it('rejects bad values before writing anything', async () => {
      const alice = await open('Alice');
      const bad = [
        { ...note, importance: 1.5 },
        { ...note, text: '  ' },
        { ...note, tags: ['Not Lowercase'] },
        { ...note, tier: 'weekly' as 'daily' },
        { ...note, links: [{ kind: 'memory' as const, id: 987_654 }] },
      ];
      for (const memory of bad) {
        expect((await rejection(alice.write(memory))).code, JSON.stringify(memory)).toBe('REDUCER_REJECTED');
      }
      expect(alice.entries()).toEqual([]);
    });

    it('stores a reflection as a private daily entry linked to its reflection and provenance', async () => {
      const alice = await open('Alice');
      const earlier = await alice.write(note);
      const entry = await alice.recordReflection({
        text: 'The deploy failed because the VPN was down',
        importance: 0.8,
        tags: ['lesson'],
        links: [{ kind: 'memory', id: earlier.id }],
      });
      expect(entry).toMatchObject({ tier: 'daily', scope: 'private', importance: 0.8, tags: ['lesson'] });
      expect(
        alice
          .links(entry.id)
          .map((link) => link.kind)
          .sort(),
      ).toEqual(['memory', 'reflection']);
      expect(alice.links(entry.id).find((link) => link.kind === 'memory')?.targetId).toBe(earlier.id);
    });

    it('compacts once: long-term entries linked to every source, sources archived, a second completion refused', async () => {
      const alice = await open('Alice');
      const first = await alice.write(note);
      const second = await alice.write({ ...note, text: 'the VPN drops every night at 2am' });
      const run = await alice.beginCompaction([first.id, second.id]);
      expect(run).toMatchObject({ agent: 'Alice', state: 'open', sourceIds: [first.id, second.id] });
      expect(alice.entry(first.id)?.compactionId).toBe(run.id);
      expect((await rejection(alice.update(first.id, { text: 'edited' }))).message).toContain('is being compacted');
      expect((await rejection(alice.beginCompaction([first.id]))).code).toBe('REDUCER_REJECTED');

      const done = await alice.completeCompaction(run.id, [
        {
          text: 'Staging deploys need the VPN, which drops at 2am',
          importance: 0.7,
          tags: ['vpn'],
          sourceIds: [first.id, second.id],
        },
      ]);
      expect(done.state).toBe('done');
      const [longId] = done.resultIds;
      const long = alice.entry(longId!) as MemoryEntry;
      expect(long).toMatchObject({ tier: 'long', scope: 'private', archived: false, tags: ['vpn'] });
      expect(
        alice
          .links(long.id)
          .map((link) => [link.kind, link.targetId])
          .sort(),
      ).toEqual([
        ['memory', first.id],
        ['memory', second.id],
      ]);
      expect([alice.entry(first.id)?.archived, alice.entry(second.id)?.archived]).toEqual([true, true]);
      const before = alice.entries();
      expect(
        (
          await rejection(
            alice.completeCompaction(run.id, [
              { text: 'again', importance: 0.5, tags: [], sourceIds: [first.id, second.id] },
            ]),
          )
        ).message,
      ).toContain('is done already');
      expect(alice.entries()).toEqual(before);
    });

    it('releases the sources of an abandoned run unchanged', async () => {
      const alice = await open('Alice');
      const first = await alice.write(note);
      const run = await alice.beginCompaction([first.id]);
      await alice.abandonCompaction(run.id);
      expect(alice.entry(first.id)).toMatchObject({ archived: false, compactionId: null, text: note.text });
      expect(alice.compactions().find((candidate) => candidate.id === run.id)?.state).toBe('abandoned');
      const updated = await alice.update(first.id, { importance: 0.9 });
      expect(updated.importance).toBe(0.9);
    });
  });
}
