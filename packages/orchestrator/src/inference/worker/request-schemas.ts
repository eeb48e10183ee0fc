import { ClawError, describeValue, type ErrorCode } from '@clawfleet/protocol';
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

/**
 * Parses `value` or throws a ClawError whose message names the field and the value found:
 * "Expected `sampling.maxTokens` to be an integer >= 1, got `0` (number)".
 */
export function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, code: ErrorCode = 'INVALID_PARAMS'): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue?.path.map(String).join('.') || 'value';
  const found = issue === undefined ? value : valueAt(value, issue.path);
  // Shared schemas (model spec, integer fields) already word their messages in full.
  const message = issue?.message.startsWith('Expected `')
    ? issue.message
    : `Expected \`${path}\` to be ${describeExpectation(issue)}, got ${describeValue(found)}`;
  throw new ClawError(code, message, { details: { field: path } });
}

function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let current: unknown = value;
  for (const key of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

function describeExpectation(issue: z.core.$ZodIssue | undefined): string {
  if (issue === undefined) return 'valid';
  switch (issue.code) {
    case 'too_small':
      return issue.origin === 'array' || issue.origin === 'string'
        ? `of length >= ${String(issue.minimum)}`
        : `${issue.origin === 'int' || issue.origin === 'number' ? 'a number' : 'a value'} ${issue.inclusive ? '>=' : '>'} ${String(issue.minimum)}`;
    case 'too_big':
      return issue.origin === 'array' || issue.origin === 'string'
        ? `of length <= ${String(issue.maximum)}`
        : `a number ${issue.inclusive ? '<=' : '<'} ${String(issue.maximum)}`;
    case 'invalid_type':
      return `${issue.expected === 'int' ? 'an integer' : `a ${issue.expected}`}`;
    default:
      return issue.message;
  }
}
