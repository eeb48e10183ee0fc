import { type MemoryEntry, MemoryIndex, type MemoryTier, type RetrievedMemory } from '@clawfleet/memory';
import type { BusRow } from '@clawfleet/protocol';
import type { FleetConnection } from './fleet-connection.ts';

/** A `memory_entry` row as the memory package's entry (timestamps in milliseconds). */
export function memoryEntryFromRow(row: BusRow): MemoryEntry {
  const micros = (value: unknown): number => Number(value) / 1000;
  return {
    id: Number(row.id),
    agent: String(row.agent),
    tier: row.tier as MemoryEntry['tier'],
    scope: row.scope as MemoryEntry['scope'],
    importance: Number(row.importance),
    text: String(row.text),
    tags: Array.isArray(row.tags) ? row.tags.map(String) : [],
    archived: row.archived === true,
    compactionId: row.compaction_id === null || row.compaction_id === undefined ? null : Number(row.compaction_id),
    createdAt: micros(row.created_at),
    updatedAt: micros(row.updated_at),
  };
}

export interface MemoryListOptions {
  tier?: MemoryTier;
  archived?: boolean;
  limit: number;
}

/** An agent's own memories, newest first (archived ones only when asked). */
export async function listMemories(
  connection: FleetConnection,
  agent: string,
  options: MemoryListOptions,
): Promise<MemoryEntry[]> {
  return (await visibleEntries(connection, agent, options, false)).sort((a, b) => b.id - a.id).slice(0, options.limit);
}

/**
 * Ranks the memories the agent can see (its own and shared ones) for `query` by words (BM25),
 * recency and importance: what the agent's retrieval does without embeddings.
 */
export async function searchMemories(
  connection: FleetConnection,
  agent: string,
  query: string,
  options: MemoryListOptions,
): Promise<RetrievedMemory[]> {
  const index = new MemoryIndex(agent);
  for (const entry of await visibleEntries(connection, agent, options, true)) index.upsert(entry);
  return index.search(query, undefined, {
    limit: options.limit,
    now: Date.now(),
    includeArchived: options.archived ?? false,
  });
}

async function visibleEntries(
  connection: FleetConnection,
  agent: string,
  options: MemoryListOptions,
  includeShared: boolean,
): Promise<MemoryEntry[]> {
  return (await connection.query('memory_entry'))
    .map(memoryEntryFromRow)
    .filter((entry) => entry.agent === agent || (includeShared && entry.scope === 'shared'))
    .filter((entry) => options.archived || !entry.archived)
    .filter((entry) => options.tier === undefined || entry.tier === options.tier);
}

export { MEMORY_TIERS, type MemoryTier } from '@clawfleet/memory';
