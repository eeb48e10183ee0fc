import { z } from 'zod';
import { modelIdSchema } from '../model-spec-schema.ts';

/**
 * Schemas of what crosses into the backend (from the slot pool) and into the worker (over the
 * fork channel). Fixed constraints live here; state checks (is the model loaded, is the slot busy)
 * live in the backend and the worker.
 */

export { modelIdSchema, modelSpecSchema } from '../model-spec-schema.ts';

export const samplingSchema = z.object({
  temperature: z.number().min(0).max(10).optional(),
  topP: z.number().gt(0).max(1).optional(),
  seed: z.number().int().min(0).max(0xffffffff).optional(),
  maxTokens: z.number().int().min(1).max(1_048_576),
});

export const generateRequestSchema = z.object({
  modelId: modelIdSchema,
  slot: z.number().int().min(0).max(63),
  prefix: z.string().optional(),
  prompt: z.string(),
  sampling: samplingSchema,
  jsonSchema: z.record(z.string(), z.unknown()).optional(),
});

export const embedRequestSchema = z.object({
  modelId: modelIdSchema,
  texts: z.array(z.string()).min(1).max(1024),
});
