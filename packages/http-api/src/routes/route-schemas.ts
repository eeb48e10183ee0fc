import { NAME_MAX_LENGTH, TEXT_MAX_LENGTH } from '@clawfleet/fleet-views';
import { z } from 'zod';

/** A row id in a path: a positive whole number. */
export const idParams = z.strictObject({
  id: z.coerce
    .number({ error: 'expected a positive whole number (an id)' })
    .int({ error: 'expected a positive whole number (an id)' })
    .positive({ error: 'expected a positive whole number (an id)' })
    .max(Number.MAX_SAFE_INTEGER),
});

export const agentName = z
  .string()
  .min(1, { error: 'expected an agent name' })
  .max(NAME_MAX_LENGTH, { error: `expected an agent name of at most ${NAME_MAX_LENGTH} characters` });

export const agentParams = z.strictObject({ name: agentName });

/** `limit` in a query string: how many of the newest rows. */
export function limitQuery(defaultLimit: number) {
  return z.coerce
    .number({ error: 'expected an integer 1-100000' })
    .int({ error: 'expected an integer 1-100000' })
    .min(1, { error: 'expected an integer 1-100000' })
    .max(100_000, { error: 'expected an integer 1-100000' })
    .default(defaultLimit);
}

/** `since` in a query string: an ISO 8601 date-time; becomes microseconds since the epoch (the rows' unit). */
export const sinceQuery = z
  .string()
  .refine((value) => !Number.isNaN(Date.parse(value)), {
    error: 'expected an ISO 8601 date-time such as 2026-12-01T10:00:00Z',
  })
  .transform((value) => Date.parse(value) * 1000);

/** A short text a person types (a reason, a resolution). */
export const personText = z
  .string()
  .trim()
  .max(TEXT_MAX_LENGTH, { error: `expected at most ${TEXT_MAX_LENGTH} characters` });

/** `{ error: { code, message } }`, the body of every failure. */
export const errorBody = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.record(z.string(), z.unknown()).optional() }),
});
