import { describeValue, integerInRange } from '@clawfleet/protocol';
import { z } from 'zod';

/**
 * The one schema of a model's spec (see `ModelSpec` in backend.ts): the orchestrator's config, the
 * slot pool and the worker's message boundary all validate with it, so they cannot disagree.
 */

const modelIdError = (issue: { input: unknown }) =>
  `Expected \`modelId\` to be 1-64 letters, digits, \`.\`, \`_\` or \`-\`, got ${describeValue(issue.input)}`;

export const modelIdSchema = z
  .string({ error: modelIdError })
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, { error: modelIdError });

/** llama.cpp allows at most 64 parallel sequences in one context. */
export const MAX_SLOTS = 64;

export const modelSpecSchema = z.strictObject({
  id: modelIdSchema,
  path: z.string().min(1, 'Expected `path` to be a non-empty file path'),
  contextSize: integerInRange('contextSize', 16, 1_048_576),
  slots: integerInRange('slots', 1, MAX_SLOTS),
  gpuLayers: z.union([z.literal('auto'), z.number().int().min(0).max(10_000)], {
    error: (issue) => `Expected \`gpuLayers\` to be \`auto\` or an integer 0-10000, got ${describeValue(issue.input)}`,
  }),
});
