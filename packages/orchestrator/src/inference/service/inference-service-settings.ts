import { identityNameSchema, integerInRange, numberInRange } from '@clawfleet/protocol';
import { z } from 'zod';
import { modelIdSchema } from '../model-spec-schema.ts';

const integer = integerInRange;
const between = numberInRange;

export const samplingSettingsSchema = z.strictObject({
  /** @default 0 (greedy) */
  temperature: between('temperature', 0, 2).optional(),
  topP: between('topP', 0, 1).optional(),
  seed: integer('seed', 0, 0xffff_ffff).optional(),
  /** Cap on generated tokens; a request may lower it, never raise it. */
  maxTokens: integer('maxTokens', 1, 1_048_576),
});
export type SamplingSettings = z.infer<typeof samplingSettingsSchema>;

/** One agent's model settings. The model's context size and slots live in its ModelSpec. */
export const agentInferenceSettingsSchema = z.strictObject({
  modelId: modelIdSchema,
  /** The model `inference.embed` uses. @default modelId */
  embeddingModelId: modelIdSchema.optional(),
  sampling: samplingSettingsSchema,
});
export type AgentInferenceSettings = z.infer<typeof agentInferenceSettingsSchema>;

export const inferenceServiceSettingsSchema = z.strictObject({
  /** Settings by agent (identity) name. */
  agents: z.record(identityNameSchema, agentInferenceSettingsSchema),
  /**
   * Identities a person uses (the CLI): only they may send priority `human`. Agents asking for it
   * get FORBIDDEN. @default none
   */
  humans: z.array(identityNameSchema).optional(),
  /** For identities not listed in `agents`; without it they are refused with FORBIDDEN. */
  defaults: agentInferenceSettingsSchema.optional(),
  /**
   * Deadline for a request (waiting and running) when the caller sets none, in milliseconds.
   * @default 600000
   */
  requestTimeoutMs: integer('requestTimeoutMs', 1, 86_400_000).optional(),
});
export type InferenceServiceSettings = z.infer<typeof inferenceServiceSettingsSchema>;
