/**
 * Every table of the Clawfleet database. This file is the single source of truth for the schema:
 * SpacetimeDB registers these definitions (src/index.ts) and the embedded SQLite host derives its
 * tables, keys and indexes from the same objects at runtime.
 *
 * Invariants that hold for every table:
 * - No host-local ids: ids are u64 auto-increment values assigned by the database, agents are named,
 *   callers are identities. Nothing here is a pid, path or socket id, so rows stay meaningful when
 *   several hosts share one SpacetimeDB database.
 * - Imports come from the root `spacetimedb` entry (not `spacetimedb/server`) so plain Node can load
 *   this file; the bundler maps `spacetimedb` onto the server entry so the module has one copy.
 */
import { type Infer, t, table } from 'spacetimedb';
import { type InferenceRecordTables, inferenceRecordTables } from './inference-record-tables.ts';
import { type LoopTables, loopTables } from './loop-tables.ts';

export * from './inference-record-tables.ts';
export * from './loop-tables.ts';

/** Identities allowed to administer the database: the module owner (`init`'s caller) and whom it adds. */
export const adminColumns = {
  identity: t.identity().primaryKey(),
  name: t.string(),
  added_at: t.timestamp(),
};
const adminOptions = { name: 'admin', public: false } as const;
export const admin: ReturnType<typeof table<typeof adminColumns, typeof adminOptions>> = table(
  adminOptions,
  adminColumns,
);
export type AdminRow = Infer<typeof adminColumns>;

export const agentColumns = {
  name: t.string().primaryKey(),
  identity: t.identity().unique(),
  role: t.string(),
  /** True while at least one connection of this identity is open (lifecycle reducers keep it). */
  online: t.bool(),
  connections: t.u32(),
  status: t.string(),
  last_heartbeat_at: t.timestamp(),
  registered_at: t.timestamp(),
};
const agentOptions = { name: 'agent', public: true } as const;
export const agent: ReturnType<typeof table<typeof agentColumns, typeof agentOptions>> = table(
  agentOptions,
  agentColumns,
);
export type AgentRow = Infer<typeof agentColumns>;

export const stimulusColumns = {
  id: t.u64().primaryKey().autoInc(),
  source: t.string(),
  kind: t.string(),
  text: t.string(),
  priority: t.u8(),
  /** Agent the stimulus is meant for; none means any agent may pick it up. */
  target_agent: t.option(t.string()),
  created_by: t.identity(),
  created_at: t.timestamp(),
};
const stimulusOptions = { name: 'stimulus', public: true } as const;
export const stimulus: ReturnType<typeof table<typeof stimulusColumns, typeof stimulusOptions>> = table(
  stimulusOptions,
  stimulusColumns,
);
export type StimulusRow = Infer<typeof stimulusColumns>;

export const taskColumns = {
  id: t.u64().primaryKey().autoInc(),
  title: t.string(),
  description: t.string(),
  /** 0 (lowest) to 9 (highest). */
  priority: t.u8(),
  /** blocked | queued | claimed | completed | failed | cancelled (see reducers/task-states.ts). */
  state: t.string().index('btree'),
  created_by: t.identity(),
  stimulus_id: t.option(t.u64()),
  /** Only this agent may claim the task (set by create_task or a handoff); none means anyone. */
  reserved_for: t.option(t.string()),
  /** Agent holding the claim; set exactly while state is `claimed`. */
  owner: t.option(t.string()),
  lease_expires_at: t.option(t.timestamp()),
  attempts: t.u32(),
  result: t.option(t.string()),
  created_at: t.timestamp(),
  updated_at: t.timestamp(),
};
const taskOptions = { name: 'task', public: true } as const;
export const task: ReturnType<typeof table<typeof taskColumns, typeof taskOptions>> = table(taskOptions, taskColumns);
export type TaskRow = Infer<typeof taskColumns>;

/** `task_id` cannot leave `blocked` until every `depends_on_task_id` is completed. */
export const taskDependencyColumns = {
  id: t.u64().primaryKey().autoInc(),
  task_id: t.u64().index('btree'),
  depends_on_task_id: t.u64().index('btree'),
};
const taskDependencyOptions = { name: 'task_dependency', public: true } as const;
export const taskDependency: ReturnType<typeof table<typeof taskDependencyColumns, typeof taskDependencyOptions>> =
  table(taskDependencyOptions, taskDependencyColumns);
export type TaskDependencyRow = Infer<typeof taskDependencyColumns>;

/** One row per claim: at `scheduled_at` the database runs `expire_task_lease` for `task_id`. */
export const taskLeaseScheduleColumns = {
  scheduled_id: t.u64().primaryKey().autoInc(),
  scheduled_at: t.scheduleAt(),
  task_id: t.u64(),
};
const taskLeaseScheduleOptions = { name: 'task_lease_schedule', public: false } as const;
export const taskLeaseSchedule: ReturnType<
  typeof table<typeof taskLeaseScheduleColumns, typeof taskLeaseScheduleOptions>
> = table(taskLeaseScheduleOptions, taskLeaseScheduleColumns);
export type TaskLeaseScheduleRow = Infer<typeof taskLeaseScheduleColumns>;

/**
 * Messages are private: direct ones are seen by their two parties only, broadcasts by every agent,
 * mentions by the mentioned agents too. Clients read them through the `visible_message` view.
 */
export const messageColumns = {
  id: t.u64().primaryKey().autoInc(),
  /** direct | broadcast | handoff */
  kind: t.string(),
  from_agent: t.string().index('btree'),
  /** none for a broadcast. */
  to_agent: t.option(t.string()),
  text: t.string(),
  /** Registered agent names mentioned as `@Name` in the text. */
  mentions: t.array(t.string()),
  task_id: t.option(t.u64()),
  created_at: t.timestamp(),
};
const messageOptions = { name: 'message', public: false } as const;
export const message: ReturnType<typeof table<typeof messageColumns, typeof messageOptions>> = table(
  messageOptions,
  messageColumns,
);
export type MessageRow = Infer<typeof messageColumns>;

/**
 * One memory of one agent. Private memory is readable by its agent only; shared memory by every agent.
 * Clients read through the `visible_memory` view. Nothing is deleted by compaction: merged sources
 * stay, `archived`, with `memory_link` rows from the long-term entry that replaced them.
 */
export const memoryEntryColumns = {
  id: t.u64().primaryKey().autoInc(),
  agent: t.string().index('btree'),
  /** short (recent cycles) | daily (the day's reflections and notes) | long (compacted, lasting). */
  tier: t.string(),
  /** private | shared */
  scope: t.string(),
  /** 0 to 1. */
  importance: t.f64(),
  text: t.string(),
  /** Lowercase labels, at most `LIMITS.maxTags`. */
  tags: t.array(t.string()),
  /** Archived entries were merged into a long-term entry; retrieval skips them unless asked. */
  archived: t.bool(),
  /**
   * The compaction run that holds this entry (while `open`) or archived it (once `done`); none when
   * no run touched it. While a run holds an entry, the entry cannot be changed or deleted.
   */
  compaction_id: t.option(t.u64()),
  /** Set by the database; only an admin importing memories may give an earlier time. */
  created_at: t.timestamp(),
  updated_at: t.timestamp(),
};
const memoryEntryOptions = { name: 'memory_entry', public: false } as const;
export const memoryEntry: ReturnType<typeof table<typeof memoryEntryColumns, typeof memoryEntryOptions>> = table(
  memoryEntryOptions,
  memoryEntryColumns,
);
export type MemoryEntryRow = Infer<typeof memoryEntryColumns>;

/**
 * Provenance: where a memory came from (a task, message, stimulus, reflection, cycle, tool call,
 * inference usage row, or the older memories a long-term entry summarises). As visible as its memory;
 * clients read through the `visible_memory_link` view.
 */
export const memoryLinkColumns = {
  id: t.u64().primaryKey().autoInc(),
  memory_id: t.u64().index('btree'),
  /** One of MEMORY_LINK_KINDS (reducers/memory.ts). */
  target_kind: t.string(),
  target_id: t.u64(),
};
const memoryLinkOptions = { name: 'memory_link', public: false } as const;
export const memoryLink: ReturnType<typeof table<typeof memoryLinkColumns, typeof memoryLinkOptions>> = table(
  memoryLinkOptions,
  memoryLinkColumns,
);
export type MemoryLinkRow = Infer<typeof memoryLinkColumns>;

/**
 * A compaction run: an agent claims some of its short/daily entries (`begin_memory_compaction`),
 * summarises them with a low-priority inference call, and completes the run with the long-term entries
 * (`complete_memory_compaction`), which archives the sources in the same transaction. A run left `open`
 * by a crash keeps its sources claimed, so a restarted agent finishes it: nothing lost, nothing twice.
 * As private as the agent's memory; clients read through `visible_memory_compaction`.
 */
export const memoryCompactionColumns = {
  id: t.u64().primaryKey().autoInc(),
  agent: t.string().index('btree'),
  /** open | done | abandoned */
  state: t.string(),
  source_ids: t.array(t.u64()),
  /** The long-term entries written when the run completed. */
  result_ids: t.array(t.u64()),
  created_at: t.timestamp(),
  finished_at: t.option(t.timestamp()),
};
const memoryCompactionOptions = { name: 'memory_compaction', public: false } as const;
export const memoryCompaction: ReturnType<
  typeof table<typeof memoryCompactionColumns, typeof memoryCompactionOptions>
> = table(memoryCompactionOptions, memoryCompactionColumns);
export type MemoryCompactionRow = Infer<typeof memoryCompactionColumns>;

export const reflectionColumns = {
  id: t.u64().primaryKey().autoInc(),
  agent: t.string().index('btree'),
  task_id: t.option(t.u64()),
  text: t.string(),
  /** 0 to 1. */
  importance: t.f64(),
  /** The memory entry written with this reflection. */
  memory_id: t.u64(),
  created_at: t.timestamp(),
};
const reflectionOptions = { name: 'reflection', public: true } as const;
export const reflection: ReturnType<typeof table<typeof reflectionColumns, typeof reflectionOptions>> = table(
  reflectionOptions,
  reflectionColumns,
);
export type ReflectionRow = Infer<typeof reflectionColumns>;

export const attentionRequestColumns = {
  id: t.u64().primaryKey().autoInc(),
  agent: t.string().index('btree'),
  text: t.string(),
  priority: t.u8(),
  /** What happens when nobody answers before `expires_at`. */
  default_action: t.string(),
  expires_at: t.timestamp(),
  /** open | resolved | withdrawn | expired */
  state: t.string().index('btree'),
  resolution: t.option(t.string()),
  resolved_by: t.option(t.identity()),
  resolved_at: t.option(t.timestamp()),
  created_at: t.timestamp(),
};
const attentionRequestOptions = { name: 'attention_request', public: true } as const;
export const attentionRequest: ReturnType<
  typeof table<typeof attentionRequestColumns, typeof attentionRequestOptions>
> = table(attentionRequestOptions, attentionRequestColumns);
export type AttentionRequestRow = Infer<typeof attentionRequestColumns>;

export const attentionExpiryScheduleColumns = {
  scheduled_id: t.u64().primaryKey().autoInc(),
  scheduled_at: t.scheduleAt(),
  attention_request_id: t.u64(),
};
const attentionExpiryScheduleOptions = { name: 'attention_expiry_schedule', public: false } as const;
export const attentionExpirySchedule: ReturnType<
  typeof table<typeof attentionExpiryScheduleColumns, typeof attentionExpiryScheduleOptions>
> = table(attentionExpiryScheduleOptions, attentionExpiryScheduleColumns);
export type AttentionExpiryScheduleRow = Infer<typeof attentionExpiryScheduleColumns>;

export const actionLogColumns = {
  id: t.u64().primaryKey().autoInc(),
  agent: t.string().index('btree'),
  task_id: t.option(t.u64()),
  /** The tool or action name. */
  action: t.string(),
  input: t.string(),
  /** ok | error | denied */
  outcome: t.string(),
  detail: t.string(),
  created_at: t.timestamp(),
};
const actionLogOptions = { name: 'action_log', public: true } as const;
export const actionLog: ReturnType<typeof table<typeof actionLogColumns, typeof actionLogOptions>> = table(
  actionLogOptions,
  actionLogColumns,
);
export type ActionLogRow = Infer<typeof actionLogColumns>;

/** Written by the orchestrator (admin) after each inference; `host` names the inference host. */
export const inferenceUsageColumns = {
  id: t.u64().primaryKey().autoInc(),
  agent: t.string().index('btree'),
  host: t.string(),
  model: t.string(),
  /** human | triage | act | reflect | compaction */
  priority_class: t.string(),
  /** Prompt tokens; for `embed`, the tokens of every text embedded. */
  prompt_tokens: t.u32(),
  completion_tokens: t.u32(),
  /** Milliseconds from arrival to the end: queued plus generating. */
  duration_ms: t.u32(),
  task_id: t.option(t.u64()),
  created_at: t.timestamp(),
  /** The request's id (a UUID) given on arrival; its log lines carry it as `requestId`. */
  request_id: t.string(),
  /** generate | structured | embed */
  method: t.string(),
  /** ok | failed | cancelled */
  outcome: t.string(),
  /** The ClawError code when the outcome is failed or cancelled. */
  error_code: t.option(t.string()),
  /** Prompt tokens taken from the slot's cache instead of being evaluated (part of `prompt_tokens`). */
  cached_prompt_tokens: t.u32(),
  /** Milliseconds waiting for a slot (part of `duration_ms`). */
  queued_ms: t.u32(),
};
const inferenceUsageOptions = { name: 'inference_usage', public: true } as const;
export const inferenceUsage: ReturnType<typeof table<typeof inferenceUsageColumns, typeof inferenceUsageOptions>> =
  table(inferenceUsageOptions, inferenceUsageColumns);
export type InferenceUsageRow = Infer<typeof inferenceUsageColumns>;

/** Keys are the accessor names (`ctx.db.<key>`) and equal the SQL table names. */
export type Tables = {
  admin: typeof admin;
  agent: typeof agent;
  stimulus: typeof stimulus;
  task: typeof task;
  task_dependency: typeof taskDependency;
  task_lease_schedule: typeof taskLeaseSchedule;
  message: typeof message;
  memory_entry: typeof memoryEntry;
  memory_link: typeof memoryLink;
  memory_compaction: typeof memoryCompaction;
  reflection: typeof reflection;
  attention_request: typeof attentionRequest;
  attention_expiry_schedule: typeof attentionExpirySchedule;
  action_log: typeof actionLog;
  inference_usage: typeof inferenceUsage;
} & LoopTables &
  InferenceRecordTables;

export const tables: Tables = {
  admin,
  agent,
  stimulus,
  task,
  task_dependency: taskDependency,
  task_lease_schedule: taskLeaseSchedule,
  message,
  memory_entry: memoryEntry,
  memory_link: memoryLink,
  memory_compaction: memoryCompaction,
  reflection,
  attention_request: attentionRequest,
  attention_expiry_schedule: attentionExpirySchedule,
  action_log: actionLog,
  inference_usage: inferenceUsage,
  ...loopTables,
  ...inferenceRecordTables,
};
