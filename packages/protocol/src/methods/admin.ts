import { z } from 'zod';
import { identityNameSchema } from '../frames.ts';
import { integerInRange } from '../schema-fields.ts';

/**
 * The wire contract of the orchestrator's admin service: what the `claw` CLI asks the orchestrator
 * that is not in the database (the slot pool, the process, a read-only SQL connection). Only admin
 * identities (the orchestrator's own and `cli`) may call these; anyone else gets FORBIDDEN.
 *
 * Results are plain objects (unknown keys are stripped, not refused), so an older CLI can read the
 * status of a newer orchestrator.
 */
export const ADMIN_METHODS = {
  status: 'admin.status',
  sql: 'admin.sql',
} as const;

export const adminStatusParamsSchema = z.strictObject({});
export type AdminStatusParams = z.infer<typeof adminStatusParamsSchema>;

const count = z.number().int().min(0);

export const adminModelStatusSchema = z.object({
  id: z.string(),
  /** Where the model is in its life: `unloaded`, `loading`, `loaded`, `unloading`. */
  state: z.string(),
  slots: count,
  busySlots: count,
  reservedBytes: count,
});
export type AdminModelStatus = z.infer<typeof adminModelStatusSchema>;

export const adminStatusResultSchema = z.object({
  /** The orchestrator's process id (what `claw down` signals). */
  pid: z.number().int().min(1),
  /** Milliseconds since the epoch. */
  startedAt: count,
  dataDirectory: z.string(),
  socketPath: z.string(),
  gpu: z.string(),
  bus: z.object({
    host: z.enum(['embedded', 'spacetimedb']),
    /** The SQLite file (embedded) or the server URL. */
    location: z.string(),
    /** Bytes on disk of the database with its WAL, when the orchestrator hosts it. */
    sizeBytes: count.optional(),
  }),
  pool: z.object({
    queued: count,
    running: count,
    permitsInUse: count,
    maxConcurrent: count,
    budgetBytes: count,
    reservedBytes: count,
    models: z.array(adminModelStatusSchema),
  }),
  /** Configured agents and the model each uses. */
  agents: z.array(z.object({ name: identityNameSchema, modelId: z.string() })),
});
export type AdminStatusResult = z.infer<typeof adminStatusResultSchema>;

/** The most rows one `admin.sql` answer carries; the rest are cut and `truncated` is set. */
export const ADMIN_SQL_MAX_ROWS = 10_000;

export const adminSqlParamsSchema = z.strictObject({
  sql: z
    .string({ error: 'Expected `sql` to be a string' })
    .min(1, 'Expected `sql` to be a SELECT statement, got an empty string')
    .max(100_000, 'Expected `sql` to be at most 100000 characters'),
  maxRows: integerInRange('maxRows', 1, ADMIN_SQL_MAX_ROWS).optional(),
});
export type AdminSqlParams = z.infer<typeof adminSqlParamsSchema>;

export const adminSqlResultSchema = z.object({
  columns: z.array(z.string()),
  /** One array per row, in column order. Blobs come as hex strings, 64-bit integers beyond 2^53 as bigint. */
  rows: z.array(z.array(z.unknown())),
  truncated: z.boolean(),
});
export type AdminSqlResult = z.infer<typeof adminSqlResultSchema>;
