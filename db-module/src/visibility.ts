/**
 * Who may read which private rows. One rule for both hosts: SpacetimeDB's views (src/index.ts) call
 * these, and the embedded host applies them to queries and to pushed row changes.
 */
import type { MemoryCompactionRow, MemoryEntryRow, MessageRow } from './tables.ts';

/** A viewer is an agent (by name), an admin, or neither (an unregistered identity). */
export interface Viewer {
  agentName: string | undefined;
  isAdmin: boolean;
}

/** Broadcasts reach every agent; direct and handoff messages their two parties and anyone mentioned. */
export function canSeeMessage(viewer: Viewer, row: Pick<MessageRow, 'from_agent' | 'to_agent' | 'mentions'>): boolean {
  if (viewer.isAdmin) return true;
  const name = viewer.agentName;
  if (name === undefined) return false;
  return row.to_agent === undefined || row.from_agent === name || row.to_agent === name || row.mentions.includes(name);
}

/** Private memory is its agent's alone; shared memory is readable by every agent. Admins see all. */
export function canSeeMemory(viewer: Viewer, row: Pick<MemoryEntryRow, 'agent' | 'scope'>): boolean {
  if (viewer.isAdmin) return true;
  if (viewer.agentName === undefined) return false;
  return row.scope === 'shared' || row.agent === viewer.agentName;
}

/** A compaction run is as private as the agent's private memory: its agent and admins only. */
export function canSeeMemoryCompaction(viewer: Viewer, row: Pick<MemoryCompactionRow, 'agent'>): boolean {
  return viewer.isAdmin || (viewer.agentName !== undefined && row.agent === viewer.agentName);
}
