import { describeValue } from '@clawfleet/protocol';
import { z } from 'zod';

/**
 * Priority classes, most urgent first. The index is the class's base rank: 0 is served first.
 * Order from the design: a human is waiting > deciding what to do > doing it > reflecting on it >
 * background memory compaction.
 */
export const PRIORITY_CLASSES = ['human', 'triage', 'act', 'reflect', 'compaction'] as const;

export type PriorityClass = (typeof PRIORITY_CLASSES)[number];

export const priorityClassSchema = z.enum(PRIORITY_CLASSES, {
  error: (issue) =>
    `Expected \`priority\` to be one of ${PRIORITY_CLASSES.join(', ')}, got ${describeValue(issue.input)}`,
});

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
