import type { ZodType } from 'zod';
import { ClawError, type ErrorCode } from './errors.ts';

/**
 * Validates a value at a boundary: returns the parsed value, or throws a ClawError with `code`
 * whose message names what was being parsed and where it went wrong, e.g.
 * "Invalid slot pool options at `models.0.slots`: Expected `slots` to be an integer 1-64, got `0` (number)".
 * `details.path` holds the dotted path of the first problem.
 */
export function parseOrThrow<T>(schema: ZodType<T>, value: unknown, code: ErrorCode, what: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const path = issue?.path.map(String).join('.') ?? '';
  const where = path.length > 0 ? ` at \`${path}\`` : '';
  throw new ClawError(code, `Invalid ${what}${where}: ${issue?.message ?? 'invalid'}`, { details: { path } });
}
