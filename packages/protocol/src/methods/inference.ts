import { z } from 'zod';
import { describeValue } from '../errors.ts';
import { identityNameSchema } from '../frames.ts';

/**
 * The wire contract of the orchestrator's inference service: params and results of the
 * `inference.*` IPC methods, the delta frames of a streamed generation, and the accounting record
 * the service emits per request (ready to be written to the database). The caller's identity is
 * never a parameter: it is the name the connection authenticated with, and the model and sampling
 * come from that agent's settings.
 */

export const INFERENCE_METHODS = {
  generate: 'inference.generate',
  structured: 'inference.structured',
  embed: 'inference.embed',
  usage: 'inference.usage',
  status: 'inference.status',
} as const;

/**
 * Priority classes, most urgent first: a human is waiting > deciding what to do > doing it >
 * reflecting on it > background memory compaction.
 */
export const INFERENCE_PRIORITIES = ['human', 'triage', 'act', 'reflect', 'compaction'] as const;
export type InferencePriority = (typeof INFERENCE_PRIORITIES)[number];

export const inferencePrioritySchema = z.enum(INFERENCE_PRIORITIES, {
  error: (issue) =>
    `Expected \`priority\` to be one of ${INFERENCE_PRIORITIES.join(', ')}, got ${describeValue(issue.input)}`,
});

/** Prompts and prefixes are capped well above any context size the project runs (4 MiB of text). */
const MAX_TEXT_LENGTH = 4 * 1024 * 1024;

const text = (name: string) =>
  z
    .string({ error: (issue) => `Expected \`${name}\` to be a string, got ${describeValue(issue.input)}` })
    .max(MAX_TEXT_LENGTH, `Expected \`${name}\` to be at most ${MAX_TEXT_LENGTH} characters`);

const integer = (name: string, minimum: number, maximum: number) => {
  const message = (issue: { input: unknown }) =>
    `Expected \`${name}\` to be an integer ${minimum}-${maximum}, got ${describeValue(issue.input)}`;
  return z
    .number({ error: message })
    .int({ error: message })
    .min(minimum, { error: message })
    .max(maximum, { error: message });
};

const count = z.number().int().min(0);
const milliseconds = z.number().min(0);

export const inferenceGenerateParamsSchema = z.strictObject({
  /** The text after the prefix. */
  prompt: text('prompt'),
  /**
   * A stable prelude (identity, memory) that the slot keeps evaluated: requests that repeat it are
   * routed to the slot holding it and evaluate only the prompt.
   */
  prefix: text('prefix').optional(),
  priority: inferencePrioritySchema,
  /** Lowers the agent's configured `maxTokens` for this request; never raises it. */
  maxTokens: integer('maxTokens', 1, 1_048_576).optional(),
  /** Overrides the agent's configured seed for this request. */
  seed: integer('seed', 0, 0xffff_ffff).optional(),
});
export type InferenceGenerateParams = z.infer<typeof inferenceGenerateParamsSchema>;

/** The `data` of each `stream-delta` frame of `inference.generate` and `inference.structured`. */
export const inferenceDeltaSchema = z.strictObject({ text: z.string() });
export type InferenceDelta = z.infer<typeof inferenceDeltaSchema>;

export const inferenceStopReasonSchema = z.enum(['eos', 'max-tokens', 'aborted']);
export type InferenceStopReason = z.infer<typeof inferenceStopReasonSchema>;

/** The request's id (a UUID), given when it arrived: in its log lines and its `inference_usage` row. */
const requestId = z.string().min(1);

export const inferenceGenerateResultSchema = z.strictObject({
  requestId,
  text: z.string(),
  modelId: z.string(),
  tokensIn: count,
  tokensOut: count,
  /** Prompt tokens not evaluated again thanks to the prefix kept in the slot. */
  tokensReused: count,
  /** Milliseconds between arrival and getting a slot. */
  queuedMs: milliseconds,
  /** Milliseconds evaluating the prompt and generating. */
  generateMs: milliseconds,
  stopReason: inferenceStopReasonSchema,
});
export type InferenceGenerateResult = z.infer<typeof inferenceGenerateResultSchema>;

/** A JSON schema object (the subset grammars support: type, properties, required, enum, const, items...). */
export const jsonSchemaObjectSchema = z.record(z.string(), z.unknown(), {
  error: (issue) => `Expected \`jsonSchema\` to be a JSON schema object, got ${describeValue(issue.input)}`,
});

export const inferenceStructuredParamsSchema = inferenceGenerateParamsSchema.extend({
  jsonSchema: jsonSchemaObjectSchema,
});
export type InferenceStructuredParams = z.infer<typeof inferenceStructuredParamsSchema>;

/** `value` is the parsed output; the service has checked it against the schema (OUTPUT_INVALID otherwise). */
export const inferenceStructuredResultSchema = inferenceGenerateResultSchema.extend({
  value: z.unknown(),
});
export type InferenceStructuredResult = z.infer<typeof inferenceStructuredResultSchema>;

export const inferenceEmbedParamsSchema = z.strictObject({
  texts: z
    .array(text('texts[]'), {
      error: (issue) => `Expected \`texts\` to be an array of strings, got ${describeValue(issue.input)}`,
    })
    .min(1, 'Expected `texts` to hold 1-256 strings, got none')
    .max(256, 'Expected `texts` to hold 1-256 strings'),
  /** @default `act` */
  priority: inferencePrioritySchema.optional(),
});
export type InferenceEmbedParams = z.infer<typeof inferenceEmbedParamsSchema>;

export const inferenceEmbedResultSchema = z.strictObject({
  requestId,
  modelId: z.string(),
  /**
   * sha256 (hex) of the model file the vectors come from: vectors stored with it stay usable while
   * it is unchanged (a config id can point at another file).
   */
  modelSha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** One vector per text, in order. */
  vectors: z.array(z.array(z.number())),
  queuedMs: milliseconds,
  generateMs: milliseconds,
});
export type InferenceEmbedResult = z.infer<typeof inferenceEmbedResultSchema>;

export const inferenceUsageParamsSchema = z.strictObject({});
export type InferenceUsageParams = z.infer<typeof inferenceUsageParamsSchema>;

/** Running totals of one agent since the orchestrator started. */
export const inferenceUsageTotalsSchema = z.strictObject({
  requests: count,
  /** Requests that ended in an error other than a cancellation by the caller. */
  failures: count,
  /** Requests the caller cancelled (a cancel frame, a disconnect). */
  cancelled: count,
  tokensIn: count,
  tokensOut: count,
  tokensReused: count,
  queuedMs: milliseconds,
  generateMs: milliseconds,
});
export type InferenceUsageTotals = z.infer<typeof inferenceUsageTotalsSchema>;

export const inferenceUsageResultSchema = z.strictObject({
  agent: identityNameSchema,
  totals: inferenceUsageTotalsSchema,
});
export type InferenceUsageResult = z.infer<typeof inferenceUsageResultSchema>;

export const inferenceStatusParamsSchema = z.strictObject({});
export type InferenceStatusParams = z.infer<typeof inferenceStatusParamsSchema>;

/**
 * The slot pool as a whole, read-only: counts, the memory budget and each model's slots. It names
 * no agent and no request, so any authenticated caller may read it (OpsClaw's `system.health`).
 */
export const inferenceStatusResultSchema = z.strictObject({
  queued: count,
  running: count,
  permitsInUse: count,
  maxConcurrent: count,
  /** The embedding lane: its own queue and limit, apart from the generation slots above. */
  embeddings: z.strictObject({ queued: count, running: count, maxConcurrent: count }),
  budgetBytes: count,
  reservedBytes: count,
  models: z.array(
    z.strictObject({
      id: z.string(),
      /** unloaded | loading | loaded | unloading | failed (the pool's model state). */
      state: z.string(),
      reservedBytes: count,
      busySlots: count,
      slots: count,
      /** Embedding requests running on this model (0 or 1). */
      busyEmbeddings: count,
      closing: z.boolean(),
    }),
  ),
});
export type InferenceStatusResult = z.infer<typeof inferenceStatusResultSchema>;

export const INFERENCE_OUTCOMES = ['ok', 'failed', 'cancelled'] as const;
export const inferenceOutcomeSchema = z.enum(INFERENCE_OUTCOMES);
export type InferenceOutcome = z.infer<typeof inferenceOutcomeSchema>;

/** One request's accounting, emitted when it ends (success or not). No host-local ids. */
export const inferenceAccountingRecordSchema = z.strictObject({
  /**
   * Unique id of the request (a UUID), created when the request arrived; every log line about the
   * request carries it as `requestId`.
   */
  requestId: z.string(),
  agent: identityNameSchema,
  method: z.enum(['generate', 'structured', 'embed']),
  modelId: z.string(),
  priority: inferencePrioritySchema,
  /** Prompt tokens (for `embed`: the tokens of every text embedded). */
  tokensIn: count,
  tokensOut: count,
  /** Prompt tokens taken from the slot's cache instead of being evaluated (part of `tokensIn`). */
  tokensReused: count,
  queuedMs: milliseconds,
  generateMs: milliseconds,
  /**
   * `ok`: answered. `cancelled`: stopped by its caller (a cancel, a disconnect: CANCELLED).
   * `failed`: any other error, the deadline (TIMEOUT) and shutdown included.
   */
  outcome: inferenceOutcomeSchema,
  stopReason: inferenceStopReasonSchema.optional(),
  /** The ClawError code when `outcome` is `failed` or `cancelled`. */
  errorCode: z.string().optional(),
  /** Milliseconds since the Unix epoch when the request ended. */
  finishedAt: z.number().int(),
});
export type InferenceAccountingRecord = z.infer<typeof inferenceAccountingRecordSchema>;
