import { ClawError, describeValue, parseOrThrow } from '@clawfleet/protocol';
import { type ZodType, z } from 'zod';

const TYPE_NAMES = ['string', 'number', 'integer', 'boolean', 'null', 'object', 'array'] as const;

/**
 * Keywords node-llama-cpp's grammar converter does not implement. A schema using one would be
 * accepted and then ignored by the grammar, so the output would fail the check afterwards: refused
 * up front instead.
 */
const UNSUPPORTED_KEYWORDS: Record<string, string> = {
  anyOf: 'use `oneOf`',
  allOf: 'merge the schemas',
  not: 'list the allowed values with `enum`',
  if: 'use `oneOf`',
  pattern: 'use `enum`, `format` or length bounds',
  patternProperties: 'list the `properties`',
};

const count = (name: string) =>
  z
    .number({
      error: (issue) => `Expected \`${name}\` to be a non-negative integer, got ${describeValue(issue.input)}`,
    })
    .int({ error: (issue) => `Expected \`${name}\` to be a non-negative integer, got ${describeValue(issue.input)}` })
    .min(0, {
      error: (issue) => `Expected \`${name}\` to be a non-negative integer, got ${describeValue(issue.input)}`,
    });

const primitive = z.union([z.string(), z.number(), z.boolean(), z.null()], {
  error: (issue) => `Expected a string, number, boolean or null, got ${describeValue(issue.input)}`,
});

const typeName = z.enum(TYPE_NAMES, {
  error: (issue) => `Expected \`type\` to be one of ${TYPE_NAMES.join(', ')}, got ${describeValue(issue.input)}`,
});

/**
 * The JSON Schema subset that structured output supports (what node-llama-cpp turns into a
 * grammar), checked as a schema itself: every keyword it knows must have the right shape, and
 * keywords the grammar would silently ignore are refused. Annotations (`title`, `$schema`, ...) pass.
 */
export const structuredSchemaNodeSchema: ZodType = z.lazy(() =>
  z
    .looseObject({
      type: z.union([typeName, z.array(typeName).min(1)]).optional(),
      properties: z
        .record(z.string(), structuredSchemaNodeSchema, {
          error: (issue) => `Expected \`properties\` to be an object of schemas, got ${describeValue(issue.input)}`,
        })
        .optional(),
      required: z
        .array(z.string(), {
          error: (issue) => `Expected \`required\` to be an array of property names, got ${describeValue(issue.input)}`,
        })
        .optional(),
      additionalProperties: z.union([z.boolean(), structuredSchemaNodeSchema]).optional(),
      items: structuredSchemaNodeSchema.optional(),
      prefixItems: z.array(structuredSchemaNodeSchema).optional(),
      enum: z
        .array(primitive, {
          error: (issue) => `Expected \`enum\` to be an array of values, got ${describeValue(issue.input)}`,
        })
        .min(1, 'Expected `enum` to list at least one value')
        .optional(),
      const: primitive.optional(),
      oneOf: z
        .array(structuredSchemaNodeSchema, {
          error: (issue) => `Expected \`oneOf\` to be an array of schemas, got ${describeValue(issue.input)}`,
        })
        .min(1, 'Expected `oneOf` to list at least one schema')
        .optional(),
      minLength: count('minLength').optional(),
      maxLength: count('maxLength').optional(),
      minItems: count('minItems').optional(),
      maxItems: count('maxItems').optional(),
      minProperties: count('minProperties').optional(),
      maxProperties: count('maxProperties').optional(),
      format: z.enum(['date-time', 'time', 'date']).optional(),
      description: z.string().optional(),
      $defs: z.record(z.string(), structuredSchemaNodeSchema).optional(),
      $ref: z.string().optional(),
    })
    .superRefine((node, context) => {
      for (const [keyword, advice] of Object.entries(UNSUPPORTED_KEYWORDS)) {
        if (keyword in node) {
          context.addIssue({
            code: 'custom',
            path: [keyword],
            message: `\`${keyword}\` is not supported by structured output; ${advice}`,
          });
        }
      }
    }),
);

const MAX_CACHED_VALIDATORS = 64;

/**
 * Compiled output validators by schema text, least recently used evicted: agents send the same few
 * schemas every cycle, and building a zod validator from a JSON schema costs far more than a lookup.
 */
export class StructuredSchemaCache {
  readonly #validators = new Map<string, ZodType>();

  /**
   * The validator for this JSON schema; INVALID_PARAMS naming the place when the schema is not a
   * valid schema of the supported subset (`{ properties: 5 }`, `{ anyOf: [...] }`).
   */
  validatorFor(jsonSchema: Record<string, unknown>): ZodType {
    const key = JSON.stringify(jsonSchema);
    const cached = this.#validators.get(key);
    if (cached !== undefined) {
      this.#validators.delete(key);
      this.#validators.set(key, cached);
      return cached;
    }
    parseOrThrow(structuredSchemaNodeSchema, jsonSchema, 'INVALID_PARAMS', '`jsonSchema`');
    let validator: ZodType;
    try {
      validator = z.fromJSONSchema(jsonSchema as Parameters<typeof z.fromJSONSchema>[0]);
    } catch (error) {
      throw new ClawError('INVALID_PARAMS', `Invalid \`jsonSchema\`: ${(error as Error).message}`, { cause: error });
    }
    if (this.#validators.size >= MAX_CACHED_VALIDATORS) {
      const oldest = this.#validators.keys().next().value;
      if (oldest !== undefined) this.#validators.delete(oldest);
    }
    this.#validators.set(key, validator);
    return validator;
  }

  get size(): number {
    return this.#validators.size;
  }
}
