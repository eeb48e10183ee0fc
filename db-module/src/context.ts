/**
 * The narrow reducer context both hosts satisfy. Reducers are written against this interface only, so
 * the embedded SQLite host implements exactly what reducers use. SpacetimeDB's `ReducerCtx` is checked
 * against it at compile time where src/index.ts registers the reducers.
 */
import type { Identity, Timestamp } from 'spacetimedb';
import type { InferenceRecordRow, InferenceTextRow } from './inference-record-tables.ts';
import type {
  AgentRunnerRow,
  AgentStatusRow,
  AgentWakeScheduleRow,
  CycleInferenceRow,
  CycleRow,
  HookRunRow,
  PlanApproverRow,
  PlanRow,
  ReactionFiringRow,
  ReactionRuleRow,
  ToolCallRow,
} from './loop-tables.ts';
import type {
  ActionLogRow,
  AdminRow,
  AgentRow,
  AttentionExpiryScheduleRow,
  AttentionRequestRow,
  InferenceUsageRow,
  MemoryCompactionRow,
  MemoryEntryRow,
  MemoryLinkRow,
  MessageRow,
  ReflectionRow,
  StimulusRow,
  TaskDependencyRow,
  TaskLeaseScheduleRow,
  TaskRow,
} from './tables.ts';

export interface TableHandle<Row> {
  /** Auto-increment columns given as 0n are assigned by the database; returns the stored row. */
  insert(row: Row): Row;
  delete(row: Row): boolean;
  iter(): Iterable<Row>;
  count(): bigint;
}

/** A unique (or primary key) index. */
export interface UniqueIndex<Row, Key> {
  find(key: Key): Row | null;
  delete(key: Key): boolean;
}

/** The primary key index: a unique index that can also replace the row with the same key. */
export interface PrimaryKeyIndex<Row, Key> extends UniqueIndex<Row, Key> {
  update(row: Row): Row;
}

export interface BtreeIndex<Row, Key> {
  filter(key: Key): Iterable<Row>;
}

export interface ModuleDb {
  admin: TableHandle<AdminRow> & { identity: PrimaryKeyIndex<AdminRow, Identity> };
  agent: TableHandle<AgentRow> & {
    name: PrimaryKeyIndex<AgentRow, string>;
    identity: UniqueIndex<AgentRow, Identity>;
  };
  stimulus: TableHandle<StimulusRow> & { id: PrimaryKeyIndex<StimulusRow, bigint> };
  task: TableHandle<TaskRow> & {
    id: PrimaryKeyIndex<TaskRow, bigint>;
    state: BtreeIndex<TaskRow, string>;
  };
  task_dependency: TableHandle<TaskDependencyRow> & {
    task_id: BtreeIndex<TaskDependencyRow, bigint>;
    depends_on_task_id: BtreeIndex<TaskDependencyRow, bigint>;
  };
  task_lease_schedule: TableHandle<TaskLeaseScheduleRow>;
  message: TableHandle<MessageRow> & { id: PrimaryKeyIndex<MessageRow, bigint> };
  memory_entry: TableHandle<MemoryEntryRow> & {
    id: PrimaryKeyIndex<MemoryEntryRow, bigint>;
    agent: BtreeIndex<MemoryEntryRow, string>;
  };
  memory_link: TableHandle<MemoryLinkRow> & { memory_id: BtreeIndex<MemoryLinkRow, bigint> };
  memory_compaction: TableHandle<MemoryCompactionRow> & {
    id: PrimaryKeyIndex<MemoryCompactionRow, bigint>;
    agent: BtreeIndex<MemoryCompactionRow, string>;
  };
  reflection: TableHandle<ReflectionRow> & { id: PrimaryKeyIndex<ReflectionRow, bigint> };
  attention_request: TableHandle<AttentionRequestRow> & { id: PrimaryKeyIndex<AttentionRequestRow, bigint> };
  attention_expiry_schedule: TableHandle<AttentionExpiryScheduleRow>;
  action_log: TableHandle<ActionLogRow>;
  inference_usage: TableHandle<InferenceUsageRow>;
  cycle: TableHandle<CycleRow> & { id: PrimaryKeyIndex<CycleRow, bigint>; agent: BtreeIndex<CycleRow, string> };
  cycle_inference: TableHandle<CycleInferenceRow> & {
    cycle_id: BtreeIndex<CycleInferenceRow, bigint>;
    agent: BtreeIndex<CycleInferenceRow, string>;
  };
  tool_call: TableHandle<ToolCallRow> & {
    id: PrimaryKeyIndex<ToolCallRow, bigint>;
    cycle_id: BtreeIndex<ToolCallRow, bigint>;
    idempotency_key: UniqueIndex<ToolCallRow, string>;
  };
  plan: TableHandle<PlanRow> & {
    id: PrimaryKeyIndex<PlanRow, bigint>;
    agent: BtreeIndex<PlanRow, string>;
    state: BtreeIndex<PlanRow, string>;
  };
  plan_approver: TableHandle<PlanApproverRow> & { agent: PrimaryKeyIndex<PlanApproverRow, string> };
  hook_run: TableHandle<HookRunRow>;
  reaction_rule: TableHandle<ReactionRuleRow> & {
    id: PrimaryKeyIndex<ReactionRuleRow, bigint>;
    agent: BtreeIndex<ReactionRuleRow, string>;
  };
  reaction_firing: TableHandle<ReactionFiringRow>;
  agent_status: TableHandle<AgentStatusRow> & { agent: PrimaryKeyIndex<AgentStatusRow, string> };
  agent_runner: TableHandle<AgentRunnerRow> & { agent: PrimaryKeyIndex<AgentRunnerRow, string> };
  agent_wake_schedule: TableHandle<AgentWakeScheduleRow>;
  inference_record: TableHandle<InferenceRecordRow> & {
    id: PrimaryKeyIndex<InferenceRecordRow, bigint>;
    request_id: UniqueIndex<InferenceRecordRow, string>;
    agent: BtreeIndex<InferenceRecordRow, string>;
  };
  inference_text: TableHandle<InferenceTextRow> & { sha256: PrimaryKeyIndex<InferenceTextRow, string> };
}

/** Read-only view of the database as views see it. */
export interface ViewDb {
  agent: { identity: { find(key: Identity): AgentRow | null } };
  message: { iter(): Iterable<MessageRow> };
  memory_entry: { iter(): Iterable<MemoryEntryRow> };
}

export interface ReducerContext {
  /** The caller. */
  readonly sender: Identity;
  /** The database itself: the sender of scheduled reducer runs. */
  readonly databaseIdentity: Identity;
  /** The transaction's time; the same for every row written by one call. */
  readonly timestamp: Timestamp;
  readonly db: ModuleDb;
}
