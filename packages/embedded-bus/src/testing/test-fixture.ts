/**
 * A small populated database for the host's tests: two agents (DevClaw owns the resources, UXClaw is
 * "another agent"), the admin `orchestrator`, and one of every kind of row.
 */
import type { BusRow } from '@clawfleet/protocol';
import { EmbeddedDatabase } from '../host/embedded-database.ts';
import { identityForName } from '../host/identity.ts';

export const ADMIN = 'orchestrator';
export const OWNER = 'DevClaw';
export const OTHER = 'UXClaw';
export const UNREGISTERED = 'stranger';
export const CALLERS = { owner: OWNER, other: OTHER, admin: ADMIN, unregistered: UNREGISTERED } as const;
export type CallerRole = keyof typeof CALLERS;

export interface Fixture {
  database: EmbeddedDatabase;
  clock: { now: number };
  /** Task claimed by DevClaw. */
  claimedTaskId: number;
  /** Queued task created by DevClaw. */
  queuedTaskId: number;
  /** DevClaw's private memory entry. */
  memoryId: number;
  /** DevClaw's open compaction run, holding `compactedMemoryId` (another private daily entry). */
  compactionId: number;
  compactedMemoryId: number;
  /** DevClaw's open attention request. */
  attentionRequestId: number;
  leaseScheduleRow: BusRow;
  attentionScheduleRow: BusRow;
  /** DevClaw's cycle in `acting`, with a started tool call at step 0. */
  actingCycleId: number;
  /** DevClaw's cycle just begun (`triaging`). */
  triagingCycleId: number;
  /** Idempotency key of the started tool call. */
  toolCallKey: string;
  /** DevClaw's pending plan (its cycle awaits approval). */
  planId: number;
  /** DevClaw's periodic tick (every 600 s). */
  wakeScheduleRow: BusRow;
  /** The loop session holding DevClaw's and UXClaw's runner leases (30 s each). */
  runnerSession: string;
}

export const START_MS = 1_750_000_000_000;

function lastInsert(changes: { table: string; op: string; row: BusRow }[], table: string): BusRow {
  const change = changes.filter((candidate) => candidate.table === table && candidate.op === 'insert').at(-1);
  if (change === undefined) throw new Error(`Expected an insert into ${table}`);
  return change.row;
}

export function createFixture(): Fixture {
  const clock = { now: START_MS };
  const database = EmbeddedDatabase.open({ path: ':memory:', now: () => clock.now });
  for (const name of [OWNER, OTHER]) {
    database.callReducer(ADMIN, 'register_agent', { name, identity: identityForName(name), role: 'worker' });
  }
  const task = (title: string) =>
    lastInsert(
      database.callReducer(OWNER, 'create_task', { title, description: '', priority: 5, depends_on: [] }),
      'task',
    );
  const claimedTaskId = Number(task('claimed').id);
  const queuedTaskId = Number(task('queued').id);
  database.callReducer(OWNER, 'claim_task', { task_id: claimedTaskId, lease_seconds: 60 });
  const memory = lastInsert(
    database.callReducer(OWNER, 'write_memory', {
      tier: 'daily',
      scope: 'private',
      importance: 0.5,
      text: 'DevClaw private note',
      tags: ['note'],
      links: [],
    }),
    'memory_entry',
  );
  const compacted = lastInsert(
    database.callReducer(OWNER, 'write_memory', {
      tier: 'daily',
      scope: 'private',
      importance: 0.2,
      text: 'DevClaw note being compacted',
      tags: [],
      links: [],
    }),
    'memory_entry',
  );
  const compaction = lastInsert(
    database.callReducer(OWNER, 'begin_memory_compaction', { source_ids: [compacted.id] }),
    'memory_compaction',
  );
  const request = lastInsert(
    database.callReducer(OWNER, 'request_attention', {
      text: 'May I deploy?',
      priority: 5,
      default_action: 'do not deploy',
      expires_in_seconds: 600,
    }),
    'attention_request',
  );
  const cycle = (key: string) =>
    Number(
      lastInsert(
        database.callReducer(OWNER, 'begin_cycle', {
          trigger_kind: 'stimulus',
          trigger_key: key,
          trigger_text: 'do the thing',
          priority: 5,
        }),
        'cycle',
      ).id,
    );
  const act = (cycleId: number) =>
    database.callReducer(OWNER, 'record_triage', {
      cycle_id: cycleId,
      decision: 'act',
      priority: 5,
      reason: 'mine',
      defer_seconds: 0,
    });
  const actingCycleId = cycle('stimulus:1001');
  act(actingCycleId);
  database.callReducer(OWNER, 'begin_tool_call', {
    cycle_id: actingCycleId,
    step: 0,
    tool: 'files.read',
    args: '{"path":"README.md"}',
    side_effect: false,
  });
  const triagingCycleId = cycle('stimulus:1002');
  const planCycleId = cycle('stimulus:1003');
  act(planCycleId);
  const plan = lastInsert(
    database.callReducer(OWNER, 'submit_plan', {
      cycle_id: planCycleId,
      text: 'run the tests',
      tools: ['command.run'],
    }),
    'plan',
  );
  database.callReducer(OWNER, 'set_agent_schedule', { interval_seconds: 600 });
  const runnerSession = 'session-fixture';
  for (const name of [OWNER, OTHER]) {
    database.callReducer(name, 'claim_agent_runner', { session: runnerSession, lease_seconds: 30 });
  }
  const [wakeScheduleRow] = database.query(ADMIN, 'agent_wake_schedule');
  const [leaseScheduleRow] = database.query(ADMIN, 'task_lease_schedule');
  const [attentionScheduleRow] = database.query(ADMIN, 'attention_expiry_schedule');
  return {
    database,
    clock,
    claimedTaskId,
    queuedTaskId,
    memoryId: Number(memory.id),
    compactionId: Number(compaction.id),
    compactedMemoryId: Number(compacted.id),
    attentionRequestId: Number(request.id),
    leaseScheduleRow: leaseScheduleRow!,
    attentionScheduleRow: attentionScheduleRow!,
    actingCycleId,
    triagingCycleId,
    toolCallKey: `${actingCycleId}:0`,
    planId: Number(plan.id),
    wakeScheduleRow: wakeScheduleRow!,
    runnerSession,
  };
}

/** Every row of every table, as the admin sees it: to assert that a rejected call wrote nothing. */
export function snapshot(database: EmbeddedDatabase): Record<string, BusRow[]> {
  const tables = database.tableNames().filter((name) => !name.startsWith('visible_'));
  return Object.fromEntries(tables.map((name) => [name, database.query(ADMIN, name)]));
}
