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
  agentControl: 'admin.agent-control',
  replay: 'admin.replay',
  why: 'admin.why',
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

/** One supervised agent: `starting`, `running`, `backing-off`, `given-up`, `paused`, `stopping`, `stopped`. */
export const adminAgentSupervisionSchema = z.object({
  state: z.string(),
  /** Launches after the first (crash restarts and a person's restarts). */
  restarts: count,
  /** Crashes within the supervisor's crash window now. */
  recentCrashes: count,
  /** The running instance (`process 4242`, `container 3f2a9c01b2d4`), when one runs. */
  instance: z.string().optional(),
  /** Set when the running container was left by an earlier orchestrator and taken over. */
  adopted: z.boolean().optional(),
  /** Why the last restart happened: `crashed (exit code 1)`, `stalled: no heartbeat for 62 s`, `restarted by a person`. */
  lastRestartReason: z.string().max(200).optional(),
});
export type AdminAgentSupervision = z.infer<typeof adminAgentSupervisionSchema>;

export const adminStatusResultSchema = z.object({
  /** The orchestrator's process id (what `claw down` signals). */
  pid: z.number().int().min(1),
  /** How agents run (`process`, `docker`); absent when the orchestrator starts none. */
  runtime: z.string().optional(),
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
    /** Waiting generation requests per priority class (human, triage, act, reflect, compaction). */
    queuedByPriority: z.record(z.string(), count).optional(),
    /** The embedding lane, apart from the generation slots. */
    embeddings: z.object({ queued: count, running: count, maxConcurrent: count }).optional(),
    running: count,
    permitsInUse: count,
    maxConcurrent: count,
    budgetBytes: count,
    reservedBytes: count,
    models: z.array(adminModelStatusSchema),
  }),
  /** Configured agents, the model each uses, and how its supervision stands (absent when agents are not started). */
  agents: z.array(
    z.object({
      name: identityNameSchema,
      modelId: z.string(),
      supervision: z.lazy(() => adminAgentSupervisionSchema).optional(),
    }),
  ),
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

export const AGENT_CONTROL_ACTIONS = ['restart', 'pause', 'resume'] as const;
export type AgentControlAction = (typeof AGENT_CONTROL_ACTIONS)[number];

export const adminAgentControlParamsSchema = z.strictObject({
  agent: identityNameSchema,
  action: z.enum(AGENT_CONTROL_ACTIONS, {
    error: (issue) =>
      `Expected \`action\` to be one of ${AGENT_CONTROL_ACTIONS.join(', ')}, got ${String(issue.input)}`,
  }),
});
export type AdminAgentControlParams = z.infer<typeof adminAgentControlParamsSchema>;

export const adminAgentControlResultSchema = adminAgentSupervisionSchema.extend({ agent: identityNameSchema });
export type AdminAgentControlResult = z.infer<typeof adminAgentControlResultSchema>;

/** The most ids an `admin.replay` or `admin.why` takes: u64 ids beyond 2^53 are not used. */
const entityId = (field: string) => integerInRange(field, 1, Number.MAX_SAFE_INTEGER);

export const adminReplayParamsSchema = z.strictObject({ cycleId: entityId('cycleId') });
export type AdminReplayParams = z.infer<typeof adminReplayParamsSchema>;

/** What ran a call: recorded with it, and what runs now. */
export const replayEngineSchema = z.object({
  modelSha256: z.string(),
  engine: z.string(),
  backend: z.string(),
  threads: count,
});
export type ReplayEngine = z.infer<typeof replayEngineSchema>;

export const replayOutputSchema = z.object({
  text: z.string(),
  /** Token ids, when the engine reports them. */
  tokens: z.array(count),
  stopReason: z.string(),
});

/** Where a replayed output first differs from the recorded one. */
export const replayDivergenceSchema = z.object({
  /** First differing character (UTF-16 index) of the text. */
  characterIndex: count,
  /** First differing token, when both outputs have token ids. */
  tokenIndex: count.optional(),
  recordedToken: count.optional(),
  replayedToken: count.optional(),
  /** The text around the difference, from each output. */
  recordedSnippet: z.string(),
  replayedSnippet: z.string(),
});
export type ReplayDivergence = z.infer<typeof replayDivergenceSchema>;

export const replayCallSchema = z.object({
  /** 1-based, in the order the cycle made its calls. */
  index: count,
  phase: z.string(),
  requestId: z.string(),
  method: z.string(),
  model: z.string(),
  seed: count,
  temperature: z.number(),
  topP: z.number().optional(),
  maxTokens: count,
  identical: z.boolean(),
  recorded: replayOutputSchema,
  replayed: replayOutputSchema,
  divergence: replayDivergenceSchema.optional(),
  /** What ran the call then, and what ran the replay. */
  recordedEngine: replayEngineSchema,
  replayEngine: replayEngineSchema,
  /** Ways the replay's engine differs from the recorded one (another version, backend or thread count). */
  engineDifferences: z.array(z.string()),
});
export type ReplayCall = z.infer<typeof replayCallSchema>;

export const adminReplayResultSchema = z.object({
  cycleId: count,
  agent: z.string(),
  /** Every call gave the recorded output again. */
  identical: z.boolean(),
  calls: z.array(replayCallSchema),
});
export type AdminReplayResult = z.infer<typeof adminReplayResultSchema>;

export const adminWhyParamsSchema = z.strictObject({ memoryId: entityId('memoryId') });
export type AdminWhyParams = z.infer<typeof adminWhyParamsSchema>;

/** What a provenance node is: a row of the table of that name, or an inference record. */
export const PROVENANCE_NODE_KINDS = [
  'memory',
  'compaction',
  'reflection',
  'cycle',
  'stimulus',
  'task',
  'message',
  'tool_call',
  'inference',
  'inference_usage',
] as const;
export type ProvenanceNodeKind = (typeof PROVENANCE_NODE_KINDS)[number];

export interface ProvenanceNode {
  kind: ProvenanceNodeKind;
  /** The row's id (a request id for inference records). */
  id: number | string;
  /** One line: what it is. */
  title: string;
  /** A few named values worth seeing (agent, phase, outcome, hashes...). */
  fields: Record<string, string | number | boolean | null>;
  /** What it came from. */
  children: ProvenanceNode[];
  /** Shown already higher in the tree (its sources are not repeated). */
  repeated?: boolean;
  /** Linked, but the row no longer exists (deleted, or an id the walk could not find). */
  missing?: boolean;
}

export const provenanceNodeSchema: z.ZodType<ProvenanceNode> = z.lazy(() =>
  z.object({
    kind: z.enum(PROVENANCE_NODE_KINDS),
    id: z.union([z.number(), z.string()]),
    title: z.string(),
    fields: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
    children: z.array(provenanceNodeSchema),
    repeated: z.boolean().optional(),
    missing: z.boolean().optional(),
  }),
);

export const adminWhyResultSchema = z.object({ root: provenanceNodeSchema });
export type AdminWhyResult = z.infer<typeof adminWhyResultSchema>;
