import { integerInRange, type Logger } from '@clawfleet/protocol';
import { z } from 'zod';
import type { InferenceBackend, ModelSpec } from '../backend.ts';
import { modelSpecSchema } from '../model-spec-schema.ts';
import type { PriorityClass } from './priority.ts';

const positiveInteger = (name: string, maximum = Number.MAX_SAFE_INTEGER) => integerInRange(name, 1, maximum);

export { modelIdSchema, modelSpecSchema } from '../model-spec-schema.ts';

/**
 * One agent's queued requests at most, by default: the IPC server's requests in flight per
 * identity (256), so an agent over IPC meets that cap first, and 39 agents at their cap still
 * leave room in the default `maxQueued` (10,000).
 */
export const DEFAULT_MAX_QUEUED_PER_AGENT = 256;

export const slotPoolSettingsSchema = z.strictObject({
  models: z.array(modelSpecSchema).min(1, 'Expected `models` to list at least one model'),
  memoryBudgetBytes: positiveInteger('memoryBudgetBytes').optional(),
  maxConcurrent: positiveInteger('maxConcurrent', 4096).optional(),
  agingIntervalMs: positiveInteger('agingIntervalMs', 3_600_000).optional(),
  maxQueued: positiveInteger('maxQueued', 1_000_000).optional(),
  maxQueuedPerAgent: positiveInteger('maxQueuedPerAgent', 1_000_000).optional(),
  maxConcurrentEmbeddings: positiveInteger('maxConcurrentEmbeddings', 4096).optional(),
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
  /** Queued requests (both lanes together) above this are refused with QUEUE_FULL. @default 10000 */
  maxQueued?: number;
  /**
   * Queued requests (both lanes together) of one agent above this are refused with QUEUE_FULL,
   * so one agent cannot fill `maxQueued` and have every other agent refused.
   * @default {@link DEFAULT_MAX_QUEUED_PER_AGENT}
   */
  maxQueuedPerAgent?: number;
  /**
   * Embedding requests running at once across all models: the embedding lane's own limit, apart
   * from the generation permits. Each model runs one embedding request at a time (it has one
   * embedding context). @default the number of models
   */
  maxConcurrentEmbeddings?: number;
  /** Called with each model load's progress (0 to 1), for start-up logs and progress output. */
  onLoadProgress?: (event: { modelId: string; progress: number }) => void;
  logger?: Logger;
  /** Monotonic milliseconds; tests inject one to step time. @default performance.now */
  clock?: () => number;
}

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
  /**
   * The request's logger (bound to its request id by the service), so the pool's lines about this
   * request carry that id. @default the pool's logger
   */
  logger?: Logger;
}

export { parseOrThrow } from '@clawfleet/protocol';
