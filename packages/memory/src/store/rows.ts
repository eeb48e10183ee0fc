/**
 * Bus rows (BusRow: ids as numbers, timestamps as microseconds, empty options as null) to this
 * package's types, and back for reducer arguments. Rows come from the database through the bus
 * client, which already checked them against the column types, so this only renames and rescales.
 */
import type { BusRow } from '@clawfleet/bus-client';
import type {
  CompactionRun,
  CompactionState,
  MemoryEntry,
  MemoryLink,
  MemoryLinkKind,
  MemoryScope,
  MemoryTier,
} from '../memory-entry.ts';

const number = (value: unknown): number => (typeof value === 'bigint' ? Number(value) : (value as number));
const microsToMs = (value: unknown): number => Math.floor(number(value) / 1000);

export function entryFromRow(row: BusRow): MemoryEntry {
  return {
    id: number(row.id),
    agent: row.agent as string,
    tier: row.tier as MemoryTier,
    scope: row.scope as MemoryScope,
    importance: row.importance as number,
    text: row.text as string,
    tags: row.tags as string[],
    archived: row.archived as boolean,
    compactionId: row.compaction_id === null || row.compaction_id === undefined ? null : number(row.compaction_id),
    createdAt: microsToMs(row.created_at),
    updatedAt: microsToMs(row.updated_at),
  };
}

export function linkFromRow(row: BusRow): MemoryLink {
  return {
    id: number(row.id),
    memoryId: number(row.memory_id),
    kind: row.target_kind as MemoryLinkKind,
    targetId: number(row.target_id),
  };
}

export function compactionFromRow(row: BusRow): CompactionRun {
  return {
    id: number(row.id),
    agent: row.agent as string,
    state: row.state as CompactionState,
    sourceIds: (row.source_ids as unknown[]).map(number),
    resultIds: (row.result_ids as unknown[]).map(number),
    createdAt: microsToMs(row.created_at),
    finishedAt: row.finished_at === null || row.finished_at === undefined ? null : microsToMs(row.finished_at),
  };
}

/** Milliseconds to the microseconds a timestamp argument takes. */
export function msToMicros(ms: number): number {
  return Math.round(ms) * 1000;
}
