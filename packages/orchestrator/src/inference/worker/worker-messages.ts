import { z } from 'zod';
import { embedRequestSchema, generateRequestSchema, modelIdSchema, modelSpecSchema } from './request-schemas.ts';

/**
 * The parent <-> worker protocol over the Node `fork` IPC channel (advanced serialization).
 * Both sides validate what they receive with these schemas; a message that fails is logged and
 * dropped (from the worker) or answered with an error (to the worker).
 */

export const workerGpuSchema = z.union([z.literal('auto'), z.literal('cuda'), z.literal(false)]);

/** Passed as the worker's single argv entry, JSON-encoded. */
export const workerStartOptionsSchema = z.object({
  gpu: workerGpuSchema,
  maxThreads: z.number().int().min(1).max(1024),
  /** Threads per context; the tiny model is fastest on 1, big models want all cores. */
  contextThreads: z.number().int().min(1).max(1024),
});
export type WorkerStartOptions = z.infer<typeof workerStartOptionsSchema>;

export const workerCallSchema = z.discriminatedUnion('method', [
  z.object({ method: z.literal('estimate-model-memory'), params: modelSpecSchema }),
  z.object({ method: z.literal('load-model'), params: modelSpecSchema }),
  z.object({ method: z.literal('unload-model'), params: z.object({ modelId: modelIdSchema }) }),
  z.object({ method: z.literal('generate'), params: generateRequestSchema }),
  z.object({ method: z.literal('embed'), params: embedRequestSchema }),
  z.object({ method: z.literal('memory-state'), params: z.object({}) }),
]);
export type WorkerCall = z.infer<typeof workerCallSchema>;
export type WorkerMethod = WorkerCall['method'];

export const parentMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('call'), id: z.number().int().min(1), call: workerCallSchema }),
  z.object({ type: z.literal('cancel'), id: z.number().int().min(1) }),
  z.object({ type: z.literal('shutdown') }),
]);
export type ParentMessage = z.infer<typeof parentMessageSchema>;

const errorJsonSchema = z.object({
  code: z.string(),
  message: z.string(),
  retryable: z.boolean().optional(),
  details: z.record(z.string(), z.unknown()).optional(),
});

export const loadedModelSchema = z.object({
  id: z.string(),
  fileSha256: z.string().regex(/^[0-9a-f]{64}$/),
  engine: z.object({
    name: z.string(),
    version: z.string(),
    backend: z.string(),
    threads: z.number().int().min(1),
  }),
  memoryBytes: z.number().min(0),
  embeddingSize: z.number().int().min(1),
  slots: z.number().int().min(1),
  contextSize: z.number().int().min(1),
});

export const generateResultSchema = z.object({
  text: z.string(),
  tokensIn: z.number().int().min(0),
  tokensOut: z.number().int().min(0),
  tokensReused: z.number().int().min(0),
  generateMs: z.number().min(0),
  stopReason: z.enum(['eos', 'max-tokens', 'aborted']),
  outputTokens: z.array(z.number().int().min(0)).optional(),
});

export const memoryStateSchema = z.object({ totalBytes: z.number().min(0), freeBytes: z.number().min(0) });

/** What each method's successful result must look like, checked by the parent. */
export const workerResultSchemas = {
  'estimate-model-memory': z.number().min(0),
  'load-model': loadedModelSchema,
  'unload-model': z.null(),
  generate: generateResultSchema,
  embed: z.object({ vectors: z.array(z.array(z.number())), tokensIn: z.number().int().min(0) }),
  'memory-state': memoryStateSchema,
} as const satisfies Record<WorkerMethod, z.ZodType>;

export const workerMessageSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('ready'),
    startupMs: z.number().min(0),
    gpu: z.union([z.string(), z.literal(false)]),
  }),
  z.object({ type: z.literal('delta'), id: z.number().int().min(1), text: z.string() }),
  /** Progress of a `load-model` call, 0 to 1. */
  z.object({ type: z.literal('progress'), id: z.number().int().min(1), progress: z.number().min(0).max(1) }),
  z.object({ type: z.literal('result'), id: z.number().int().min(1), result: z.unknown() }),
  z.object({ type: z.literal('error'), id: z.number().int().min(1), error: errorJsonSchema }),
]);
export type WorkerMessage = z.infer<typeof workerMessageSchema>;
