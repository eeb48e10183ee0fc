import type { BusRow } from '@clawfleet/protocol';
import { isClawError } from '@clawfleet/protocol';
import { describe, expect, it } from 'vitest';
import { ADMIN, createFixture, OWNER, START_MS, snapshot } from '../testing/test-fixture.ts';

function rejected(call: () => unknown): string {
  try {
    call();
  } catch (error) {
    if (isClawError(error, 'REDUCER_REJECTED')) return error.message;
    throw error;
  }
  throw new Error('Expected the call to be rejected');
}

describe('memory lifecycle on the embedded host', () => {
  it('completes a compaction once: long-term entry linked to every source, sources archived, not deleted', () => {
    const fixture = createFixture();
    const { database, compactionId, compactedMemoryId } = fixture;
    const second = database
      .callReducer(OWNER, 'write_memory', {
        tier: 'daily',
        scope: 'private',
        importance: 0.4,
        text: 'second daily note',
        tags: [],
        links: [],
      })
      .find((change) => change.table === 'memory_entry')!.row;
    database.callReducer(OWNER, 'abandon_memory_compaction', { compaction_id: compactionId });
    const begun = database
      .callReducer(OWNER, 'begin_memory_compaction', { source_ids: [compactedMemoryId, second.id] })
      .find((change) => change.table === 'memory_compaction')!.row;
    const complete = () =>
      database.callReducer(OWNER, 'complete_memory_compaction', {
        compaction_id: begun.id,
        entries: [
          { text: 'one summary', importance: 0.7, tags: ['summary'], source_ids: [compactedMemoryId, second.id] },
        ],
      });
    complete();
    const rows = database.query(ADMIN, 'memory_entry');
    const long = rows.filter((row) => row.tier === 'long');
    expect(long.map((row) => row.text)).toEqual(['one summary']);
    const sources = rows.filter((row) => [compactedMemoryId, second.id].includes(row.id as number));
    expect(sources.map((row) => row.archived)).toEqual([true, true]);
    const links = database.query(ADMIN, 'memory_link', { memory_id: long[0]!.id });
    expect(links.map((link) => [link.target_kind, link.target_id])).toEqual([
      ['memory', compactedMemoryId],
      ['memory', second.id],
    ]);
    const run = database.query(ADMIN, 'memory_compaction', { id: begun.id })[0]!;
    expect([run.state, run.result_ids]).toEqual(['done', [long[0]!.id]]);

    // A repeated completion (an agent that crashed after committing and retried) writes nothing.
    const before = snapshot(database);
    expect(rejected(complete)).toContain('is done already');
    expect(snapshot(database)).toEqual(before);
    expect(rejected(() => database.callReducer(OWNER, 'delete_memory', { memory_id: second.id }))).toContain(
      'is archived',
    );
    database.close();
  });

  it('refuses to archive a source no long-term entry summarises', () => {
    const { database, compactionId, compactedMemoryId, memoryId } = createFixture();
    database.callReducer(OWNER, 'abandon_memory_compaction', { compaction_id: compactionId });
    const run = database
      .callReducer(OWNER, 'begin_memory_compaction', { source_ids: [compactedMemoryId, memoryId] })
      .find((change) => change.table === 'memory_compaction')!.row;
    const message = rejected(() =>
      database.callReducer(OWNER, 'complete_memory_compaction', {
        compaction_id: run.id,
        entries: [{ text: 'only half', importance: 0.5, tags: [], source_ids: [memoryId] }],
      }),
    );
    expect(message).toBe(`Expected every source to be summarised; missing ${compactedMemoryId}`);
    database.close();
  });

  it('stamps agent writes with the transaction time; an admin import keeps its earlier time and links', () => {
    const { database, clock, memoryId } = createFixture();
    clock.now = START_MS + 5_000;
    const written = database
      .callReducer(OWNER, 'record_reflection', { text: 'reflected', importance: 0.6, tags: ['lesson'], links: [] })
      .filter((change) => change.table === 'memory_entry' || change.table === 'reflection');
    expect(written.map((change) => [change.table, change.row.created_at])).toEqual([
      ['memory_entry', (START_MS + 5_000) * 1000],
      ['reflection', (START_MS + 5_000) * 1000],
    ]);
    const dayAgo = (START_MS - 86_400_000) * 1000;
    const imported = database
      .callReducer(ADMIN, 'import_memory', {
        agent: OWNER,
        tier: 'long',
        scope: 'shared',
        importance: 0.9,
        text: 'lesson from the old install',
        tags: ['imported'],
        archived: false,
        created_at: dayAgo,
        links: [
          { kind: 'memory', id: memoryId },
          { kind: 'task', id: 4_242 },
        ],
      })
      .find((change) => change.table === 'memory_entry')!.row as BusRow;
    expect([imported.agent, imported.created_at, imported.scope]).toEqual([OWNER, dayAgo, 'shared']);
    const links = database.query(ADMIN, 'memory_link', { memory_id: imported.id });
    expect(links.map((link) => [link.target_kind, link.target_id])).toEqual([
      ['memory', memoryId],
      ['task', 4_242],
    ]);
    database.close();
  });
});
