import { INFERENCE_PRIORITIES, type InferencePriority, inferencePrioritySchema } from '@clawfleet/protocol';

/**
 * Priority classes, most urgent first (defined on the wire, in `@clawfleet/protocol`). The index is
 * the class's base rank: 0 is served first.
 */
export const PRIORITY_CLASSES = INFERENCE_PRIORITIES;
export type PriorityClass = InferencePriority;
export const priorityClassSchema = inferencePrioritySchema;

export function baseRank(priority: PriorityClass): number {
  return PRIORITY_CLASSES.indexOf(priority);
}

/**
 * Aging: a waiting request gains one rank per `agingIntervalMs` waited, down to rank 0 (the rank
 * of `human`). Ties on rank are broken by enqueue time, oldest first. Hence a request of base rank
 * r is, after r × agingIntervalMs, behind only requests that were already queued before it: see
 * docs/inference.md "Slot pool" for the full bound.
 */
export function effectiveRank(rank: number, waitedMs: number, agingIntervalMs: number): number {
  if (waitedMs <= 0) return rank;
  return Math.max(0, rank - Math.floor(waitedMs / agingIntervalMs));
}
