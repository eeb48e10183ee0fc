import { identityNameSchema, integerInRange, type Logger } from '@clawfleet/protocol';
import { z } from 'zod';
import type { InferenceBackend, ModelSpec } from '../backend.ts';
import { modelIdSchema, modelSpecSchema } from '../model-spec-schema.ts';
import { type PriorityClass, priorityClassSchema } from './priority.ts';

const positiveInteger = (name: string, maximum = Number.MAX_SAFE_INTEGER) => integerInRange(name, 1, maximum);

export { modelIdSchema, modelSpecSchema } from '../model-spec-schema.ts';

export const slotPoolSettingsSchema = z.strictObject({
  models: z.array(modelSpecSchema).min(1, 'Expected `models` to list at least one model'),
  memoryBudgetBytes: positiveInteger('memoryBudgetBytes').optional(),
  maxConcurrent: positiveInteger('maxConcurrent', 4096).optional(),
  agingIntervalMs: positiveInteger('agingIntervalMs', 3_600_000).optional(),
  maxQueued: positiveInteger('maxQueued', 1_000_000).optional(),
});

export type SlotPoolSettings = z.infer<typeof slotPoolSettingsSchema>;

export interface SlotPoolOptions {
  backend: InferenceBackend;
  /** The models that may be loaded. Ids must be unique. */
  models: ModelSpec[];
  /**
   * Bytes of device memory the pool may fill with models. Capped by what the device reports as
   * its total. @default the device total from `backend.memoryState()`
   */
  memoryBudgetBytes?: number;
  /**
   * Concurrency permits: generations running at once across all models (the compute the device
   * has). @default the sum of every model's slots
   */
  maxConcurrent?: number;
  /** A waiting request gains one rank per this many milliseconds. @default 2000 */
  agingIntervalMs?: number;
  /** Queued requests above this are refused with QUEUE_FULL. @default 10000 */
  maxQueued?: number;
  logger?: Logger;
  /** Monotonic milliseconds; tests inject one to step time. @default performance.now */
  clock?: () => number;
}

export const slotRequestSchema = z.strictObject({
  agent: identityNameSchema,
  modelId: modelIdSchema,
  priority: priorityClassSchema,
  prefix: z.string().optional(),
  timeoutMs: positiveInteger('timeoutMs', 86_400_000).optional(),
});

export interface SlotRequest {
  /** The agent the request is for; fairness and `cancelAgent` key on it. */
  agent: string;
  modelId: string;
  priority: PriorityClass;
  /** The stable prefix this request will run with; the pool prefers the slot that holds it. */
  prefix?: string;
  /** Deadline from now, covering waiting and running; then the request fails with TIMEOUT. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export { parseOrThrow } from '@clawfleet/protocol';
