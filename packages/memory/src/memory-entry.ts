/**
 * Memory as this package shows it: camelCase, ids and times as numbers (times in milliseconds since
 * the epoch). The database columns behind it are described in db-module/src/tables.ts.
 */
import {
  MEMORY_LINK_KINDS,
  MEMORY_SCOPES,
  MEMORY_TIERS,
  type MemoryLinkKind,
  type MemoryScope,
  type MemoryTier,
} from '@clawfleet/db-module';

export { MEMORY_LINK_KINDS, MEMORY_SCOPES, MEMORY_TIERS, type MemoryLinkKind, type MemoryScope, type MemoryTier };

export interface MemoryEntry {
  readonly id: number;
  /** The agent that wrote it (or for whom an admin imported it). */
  readonly agent: string;
  /** `short` (recent cycles), `daily` (the day's reflections and notes), `long` (compacted, lasting). */
  readonly tier: MemoryTier;
  /** `private`: its agent only. `shared`: every agent may read it. */
  readonly scope: MemoryScope;
  /** 0 to 1. */
  readonly importance: number;
  readonly text: string;
  readonly tags: readonly string[];
  /** Merged into a long-term entry by compaction; kept for provenance, skipped by retrieval by default. */
  readonly archived: boolean;
  /** The compaction run holding it (while open) or that archived or wrote it. */
  readonly compactionId: number | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** A provenance link: memory `memoryId` came from `kind` #`targetId`. */
export interface MemoryLink {
  readonly id: number;
  readonly memoryId: number;
  readonly kind: MemoryLinkKind;
  readonly targetId: number;
}

/** A provenance link as given when writing: `{ kind: 'cycle', id: 12 }`. */
export interface MemoryLinkInput {
  readonly kind: MemoryLinkKind;
  readonly id: number;
}

export type CompactionState = 'open' | 'done' | 'abandoned';

export interface CompactionRun {
  readonly id: number;
  readonly agent: string;
  readonly state: CompactionState;
  readonly sourceIds: readonly number[];
  readonly resultIds: readonly number[];
  readonly createdAt: number;
  readonly finishedAt: number | null;
}
