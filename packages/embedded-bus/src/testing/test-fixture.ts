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
  /** Request id of DevClaw's recorded inference call (its prefix, prompt and schema stored). */
  recordedRequestId: string;
}

const hex = (digit: string): string => digit.repeat(64);

/**
 * A valid `record_inference_call` for DevClaw (a structured call with prefix, prompt and schema
 * stored), with some fields replaced. The hashes are placeholders: the reducer checks their form,
 * the orchestrator computes them.
 */
export function inferenceCallArgs(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    request_id: '0b7e4c1a-2f3d-4e5a-8b6c-7d8e9f0a1b2c',
    agent: OWNER,
    method: 'structured',
    model: 'tiny',
    model_sha256: hex('a'),
    engine: 'node-llama-cpp 3.21.1',
    backend: 'cpu',
    threads: 1,
    context_size: 4096,
    temperature: 0.7,
    top_p: 0.9,
    seed: 42,
    max_tokens: 64,
    grammar_sha256: hex('b'),
    prefix_sha256: hex('c'),
    prompt_sha256: hex('d'),
    output: '{"decision":"act"}',
    output_sha256: hex('e'),
    output_tokens: [12, 34, 56],
    stop_reason: 'eos',
    tokens_in: 40,
    tokens_out: 3,
    tokens_reused: 10,
    texts: [
      { sha256: hex('c'), kind: 'prefix', text: 'You are DevClaw.' },
      { sha256: hex('d'), kind: 'prompt', text: 'Triage this: deploy' },
      { sha256: hex('b'), kind: 'schema', text: '{"type":"object"}' },
    ],
    ...overrides,
  };
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
  const recorded = inferenceCallArgs();
  database.callReducer(ADMIN, 'record_inference_call', recorded);
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
    recordedRequestId: String(recorded.request_id),
  };
}

/** Every row of every table, as the admin sees it: to assert that a rejected call wrote nothing. */
export function snapshot(database: EmbeddedDatabase): Record<string, BusRow[]> {
  const tables = database.tableNames().filter((name) => !name.startsWith('visible_'));
  return Object.fromEntries(tables.map((name) => [name, database.query(ADMIN, name)]));
}
