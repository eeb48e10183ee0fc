import type { core, ZodType } from 'zod';
import { ClawError, describeValue, type ErrorCode } from './errors.ts';

/**
 * Validates a value at a boundary: returns the parsed value, or throws a ClawError with `code`
 * (default INVALID_PARAMS). The one parser of every package:
 * - with `what`, the message names what was being parsed and where it went wrong, e.g.
 *   "Invalid slot pool options at `models.0.slots`: Expected `slots` to be an integer 1-64, got `0` (number)",
 *   and `details.path` holds the dotted path of the first problem;
 * - without it, the message names the field and the value found, e.g.
 *   "Expected `sampling.maxTokens` to be an integer >= 1, got `0` (number)" (a schema message that is
 *   already worded so is kept), and `details.field` holds the path.
 */
export function parseOrThrow<T>(
  schema: ZodType<T>,
  value: unknown,
  code: ErrorCode = 'INVALID_PARAMS',
  what?: string,
): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  if (what !== undefined) {
    const path = issue?.path.map(String).join('.') ?? '';
    const where = path.length > 0 ? ` at \`${path}\`` : '';
    throw new ClawError(code, `Invalid ${what}${where}: ${issue?.message ?? 'invalid'}`, { details: { path } });
  }
  const path = issue?.path.map(String).join('.') || 'value';
  const found = issue === undefined ? value : valueAt(value, issue.path);
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

function describeExpectation(issue: core.$ZodIssue | undefined): string {
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
