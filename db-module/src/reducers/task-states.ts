/**
 * Task lifecycle:
 *   blocked --(all dependencies completed)--> queued --claim--> claimed --complete--> completed
 *                                               ^                 |  \--fail--> failed
 *                                               |--release/handoff/lease expiry--|
 *   cancel: any state that is not final --> cancelled
 */
export const TASK_STATES = ['blocked', 'queued', 'claimed', 'completed', 'failed', 'cancelled'] as const;
export type TaskState = (typeof TASK_STATES)[number];

export const FINAL_TASK_STATES: readonly string[] = ['completed', 'failed', 'cancelled'];
