import { isClawError } from '@clawfleet/protocol';
import { describe, expect, it } from 'vitest';
import {
  CALLERS,
  type CallerRole,
  createFixture,
  type Fixture,
  inferenceCallArgs,
  START_MS,
  snapshot,
} from '../testing/test-fixture.ts';
import { identityForName } from './identity.ts';

type Case = {
  reducer: string;
  /** What the row is, for the test name. */
  about?: string;
  args: (fixture: Fixture) => Record<string, unknown>;
  allowed: CallerRole[];
};

const AGENTS: CallerRole[] = ['owner', 'other'];

// Every client reducer x every kind of caller. "owner" is DevClaw, which owns the fixture's task,
// memory and attention request; "other" is UXClaw, another registered agent.
const CASES: Case[] = [
  {
    reducer: 'register_agent',
    args: () => ({ name: 'OpsClaw', identity: identityForName('OpsClaw'), role: 'ops' }),
    allowed: ['admin'],
  },
  { reducer: 'unregister_agent', args: () => ({ name: 'DevClaw' }), allowed: ['admin'] },
  {
    reducer: 'add_admin',
    args: () => ({ identity: identityForName('second-orchestrator'), name: 'second' }),
    allowed: ['admin'],
  },
  { reducer: 'agent_heartbeat', args: () => ({ status: 'thinking' }), allowed: AGENTS },
  {
    reducer: 'create_stimulus',
    args: () => ({ source: 'cli', kind: 'message', text: 'hello', priority: 9 }),
    allowed: ['owner', 'other', 'admin'],
  },
  {
    reducer: 'create_task',
    args: () => ({ title: 'new task', description: 'd', priority: 3, depends_on: [] }),
    allowed: ['owner', 'other', 'admin'],
  },
  { reducer: 'claim_task', args: (f) => ({ task_id: f.queuedTaskId, lease_seconds: 30 }), allowed: AGENTS },
  { reducer: 'extend_task_lease', args: (f) => ({ task_id: f.claimedTaskId, lease_seconds: 30 }), allowed: ['owner'] },
  { reducer: 'complete_task', args: (f) => ({ task_id: f.claimedTaskId, result: 'done' }), allowed: ['owner'] },
  { reducer: 'fail_task', args: (f) => ({ task_id: f.claimedTaskId, reason: 'broken' }), allowed: ['owner'] },
  { reducer: 'release_task', args: (f) => ({ task_id: f.claimedTaskId }), allowed: ['owner'] },
  {
    reducer: 'cancel_task',
    about: 'a claimed task',
    args: (f) => ({ task_id: f.claimedTaskId, reason: 'not needed' }),
    allowed: ['owner', 'admin'],
  },
  {
    reducer: 'cancel_task',
    about: 'a queued task (owner = creator)',
    args: (f) => ({ task_id: f.queuedTaskId, reason: 'not needed' }),
    allowed: ['owner', 'admin'],
  },
  {
    reducer: 'hand_off_task',
    args: (f) => ({ task_id: f.claimedTaskId, to_agent: 'UXClaw', note: 'please review' }),
    allowed: ['owner'],
  },
  { reducer: 'expire_task_lease', args: (f) => ({ schedule: f.leaseScheduleRow }), allowed: [] },
  { reducer: 'send_message', args: () => ({ text: 'hello @UXClaw' }), allowed: AGENTS },
  {
    reducer: 'write_memory',
    args: () => ({ tier: 'short', scope: 'private', importance: 0.1, text: 'note', tags: [], links: [] }),
    allowed: AGENTS,
  },
  {
    reducer: 'update_memory',
    args: (f) => ({ memory_id: f.memoryId, tier: 'long', importance: 0.9, text: 'rewritten', tags: [] }),
    allowed: ['owner'],
  },
  { reducer: 'share_memory', args: (f) => ({ memory_id: f.memoryId, scope: 'shared' }), allowed: ['owner'] },
  { reducer: 'delete_memory', args: (f) => ({ memory_id: f.memoryId }), allowed: ['owner'] },
  {
    reducer: 'record_reflection',
    args: (f) => ({
      text: 'I learned',
      importance: 0.4,
      tags: ['lesson'],
      links: [{ kind: 'task', id: f.queuedTaskId }],
    }),
    allowed: AGENTS,
  },
  { reducer: 'begin_memory_compaction', args: (f) => ({ source_ids: [f.memoryId] }), allowed: ['owner'] },
  {
    reducer: 'complete_memory_compaction',
    args: (f) => ({
      compaction_id: f.compactionId,
      entries: [{ text: 'merged', importance: 0.5, tags: [], source_ids: [f.compactedMemoryId] }],
    }),
    allowed: ['owner'],
  },
  { reducer: 'abandon_memory_compaction', args: (f) => ({ compaction_id: f.compactionId }), allowed: ['owner'] },
  {
    reducer: 'import_memory',
    args: (f) => ({
      agent: 'DevClaw',
      tier: 'long',
      scope: 'private',
      importance: 0.5,
      text: 'from an earlier install',
      tags: ['imported'],
      archived: false,
      created_at: START_MS * 1000 - 86_400_000_000,
      links: [{ kind: 'memory', id: f.memoryId }],
    }),
    allowed: ['admin'],
  },
  {
    reducer: 'request_attention',
    args: () => ({ text: 'help', priority: 2, default_action: 'wait', expires_in_seconds: 60 }),
    allowed: AGENTS,
  },
  {
    reducer: 'raise_agent_attention',
    args: () => ({
      agent: 'DevClaw',
      text: 'DevClaw keeps crashing',
      priority: 8,
      default_action: 'leave it stopped',
      expires_in_seconds: 60,
    }),
    allowed: ['admin'],
  },
  {
    reducer: 'resolve_attention',
    args: (f) => ({ attention_request_id: f.attentionRequestId, resolution: 'yes' }),
    allowed: ['admin'],
  },
  { reducer: 'withdraw_attention', args: (f) => ({ attention_request_id: f.attentionRequestId }), allowed: ['owner'] },
  { reducer: 'expire_attention_request', args: (f) => ({ schedule: f.attentionScheduleRow }), allowed: [] },
  {
    reducer: 'log_action',
    args: () => ({ action: 'shell', input: 'ls', outcome: 'ok', detail: '' }),
    allowed: AGENTS,
  },
  {
    reducer: 'record_inference',
    args: () => ({
      agent: 'DevClaw',
      host: 'gpu-1',
      model: 'tiny',
      priority_class: 'act',
      prompt_tokens: 10,
      completion_tokens: 5,
      duration_ms: 12,
      request_id: '4f6c2a6e-0b1d-4c39-9a51-2f7e8d9c0a1b',
      method: 'generate',
      outcome: 'ok',
      cached_prompt_tokens: 4,
      queued_ms: 2,
    }),
    allowed: ['admin'],
  },
  // Inference recording for replay: the orchestrator only (agents cannot forge their provenance).
  {
    reducer: 'record_inference_call',
    args: () => inferenceCallArgs({ request_id: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d' }),
    allowed: ['admin'],
  },
  { reducer: 'prune_inference_texts', args: () => ({ keep_seconds: 0 }), allowed: ['admin'] },
  // The agent loop: each agent for its own cycles; plans decided by an admin or a plan approver.
  {
    reducer: 'begin_cycle',
    args: () => ({ trigger_kind: 'stimulus', trigger_key: 'stimulus:7', trigger_text: 'hi', priority: 3 }),
    allowed: AGENTS,
  },
  {
    reducer: 'record_triage',
    args: (f) => ({ cycle_id: f.triagingCycleId, decision: 'act', priority: 4, reason: 'mine', defer_seconds: 0 }),
    allowed: ['owner'],
  },
  { reducer: 'set_cycle_phase', args: (f) => ({ cycle_id: f.actingCycleId, phase: 'reflecting' }), allowed: ['owner'] },
  {
    reducer: 'record_cycle_inference',
    args: (f) => ({
      cycle_id: f.actingCycleId,
      phase: 'act',
      model: 'tiny',
      request_id: 'r-1',
      prompt_hash: 'a'.repeat(64),
      max_tokens: 64,
      tokens_in: 10,
      tokens_out: 5,
    }),
    allowed: ['owner'],
  },
  {
    reducer: 'begin_tool_call',
    args: (f) => ({ cycle_id: f.actingCycleId, step: 1, tool: 'files.list', args: '{}', side_effect: false }),
    allowed: ['owner'],
  },
  {
    reducer: 'finish_tool_call',
    args: (f) => ({
      idempotency_key: f.toolCallKey,
      state: 'succeeded',
      result_digest: 'b'.repeat(64),
      result: 'ok',
      error_code: '',
      duration_ms: 3,
    }),
    allowed: ['owner'],
  },
  {
    reducer: 'finish_cycle',
    args: (f) => ({ cycle_id: f.actingCycleId, outcome: 'success', detail: 'done' }),
    allowed: ['owner'],
  },
  {
    reducer: 'report_agent_status',
    args: () => ({ phase: 'idle', progress: 'waiting', queue_length: 0 }),
    allowed: AGENTS,
  },
  { reducer: 'set_agent_schedule', args: () => ({ interval_seconds: 60 }), allowed: AGENTS },
  {
    reducer: 'claim_agent_runner',
    args: (f) => ({ session: f.runnerSession, lease_seconds: 60 }),
    allowed: AGENTS,
  },
  { reducer: 'release_agent_runner', args: (f) => ({ session: f.runnerSession }), allowed: AGENTS },
  { reducer: 'wake_agent', args: (f) => ({ schedule: f.wakeScheduleRow }), allowed: [] },
  {
    reducer: 'submit_plan',
    args: (f) => ({ cycle_id: f.actingCycleId, text: 'delete the cache', tools: ['command.run'] }),
    allowed: ['owner'],
  },
  { reducer: 'decide_plan', args: (f) => ({ plan_id: f.planId, approve: true, reason: 'fine' }), allowed: ['admin'] },
  { reducer: 'withdraw_plan', args: (f) => ({ plan_id: f.planId }), allowed: ['owner'] },
  { reducer: 'set_plan_approver', args: () => ({ agent: 'UXClaw', allowed: true }), allowed: ['admin'] },
  {
    reducer: 'record_hook_run',
    args: () => ({ hook: 'tests-pass', event: 'agent_idle', verdict: 'pass', reason: '' }),
    allowed: AGENTS,
  },
  { reducer: 'set_reaction', args: () => ({ event: 'task_failed', priority: 7, enabled: true }), allowed: AGENTS },
];

describe('authorization matrix: every reducer x owner, another agent, admin, unregistered identity', () => {
  it('covers every client reducer', () => {
    const { database } = createFixture();
    expect(new Set(CASES.map((entry) => entry.reducer))).toEqual(new Set(database.reducerNames()));
    database.close();
  });

  for (const entry of CASES) {
    for (const role of Object.keys(CALLERS) as CallerRole[]) {
      const allowed = entry.allowed.includes(role);
      it(`${entry.reducer}${entry.about ? ` (${entry.about})` : ''} as ${role}: ${allowed ? 'allowed' : 'denied'}`, () => {
        const fixture = createFixture();
        const { database } = fixture;
        const before = snapshot(database);
        const call = () => database.callReducer(CALLERS[role], entry.reducer, entry.args(fixture));
        if (allowed) {
          call();
          expect(snapshot(database)).not.toEqual(before);
        } else {
          let caught: unknown;
          try {
            call();
          } catch (error) {
            caught = error;
          }
          expect(isClawError(caught, 'REDUCER_REJECTED'), String(caught)).toBe(true);
          expect(snapshot(database)).toEqual(before);
        }
        database.close();
      });
    }
  }
});

describe('reading private rows', () => {
  it('shows an agent its own private memory and hides it from another agent and from strangers', () => {
    const { database, memoryId, compactedMemoryId } = createFixture();
    const ids = (caller: string, table: string) => database.query(caller, table).map((row) => row.id);
    expect(ids(CALLERS.owner, 'memory_entry')).toEqual([memoryId, compactedMemoryId]);
    expect(ids(CALLERS.owner, 'visible_memory')).toEqual([memoryId, compactedMemoryId]);
    expect(ids(CALLERS.other, 'memory_entry')).toEqual([]);
    expect(ids(CALLERS.unregistered, 'visible_memory')).toEqual([]);
    expect(ids(CALLERS.admin, 'memory_entry')).toEqual([memoryId, compactedMemoryId]);
    const [row] = database.query(CALLERS.owner, 'memory_entry');
    expect(database.isVisible(CALLERS.other, 'memory_entry', row!)).toBe(false);
    expect(database.isVisible(CALLERS.other, 'memory_entry', { ...row!, scope: 'shared' })).toBe(true);
    database.close();
  });

  it('shows provenance links and compaction runs only to whoever may see the memory behind them', () => {
    const { database, memoryId, compactionId } = createFixture();
    const [written] = database.callReducer(CALLERS.owner, 'write_memory', {
      tier: 'short',
      scope: 'private',
      importance: 0.3,
      text: 'follows from the note',
      tags: [],
      links: [{ kind: 'memory', id: memoryId }],
    });
    const targets = (caller: string) => database.query(caller, 'visible_memory_link').map((row) => row.target_id);
    expect(targets(CALLERS.owner)).toEqual([memoryId]);
    expect(targets(CALLERS.other)).toEqual([]);
    expect(targets(CALLERS.unregistered)).toEqual([]);
    const runs = (caller: string) => database.query(caller, 'visible_memory_compaction').map((row) => row.id);
    expect(runs(CALLERS.owner)).toEqual([compactionId]);
    expect(runs(CALLERS.other)).toEqual([]);
    expect(runs(CALLERS.admin)).toEqual([compactionId]);
    const linking = Number(written?.row.id);
    database.callReducer(CALLERS.owner, 'share_memory', { memory_id: linking, scope: 'shared' });
    // Shared now: its link is visible too, though the memory it points at stays private.
    expect(targets(CALLERS.other)).toEqual([memoryId]);
    expect(database.query(CALLERS.other, 'visible_memory').map((row) => row.id)).toEqual([linking]);
    database.close();
  });

  it('delivers a direct message to its two parties and to mentioned agents only', () => {
    const { database } = createFixture();
    database.callReducer('orchestrator', 'register_agent', {
      name: 'OpsClaw',
      identity: identityForName('OpsClaw'),
      role: 'ops',
    });
    database.callReducer('orchestrator', 'register_agent', {
      name: 'ScribeClaw',
      identity: identityForName('ScribeClaw'),
      role: 'docs',
    });
    database.callReducer(CALLERS.owner, 'send_message', { to_agent: 'UXClaw', text: 'ping @OpsClaw' });
    const texts = (caller: string) => database.query(caller, 'message').map((row) => row.text);
    expect(texts('UXClaw')).toEqual(['ping @OpsClaw']);
    expect(texts('DevClaw')).toEqual(['ping @OpsClaw']);
    expect(texts('OpsClaw')).toEqual(['ping @OpsClaw']);
    expect(texts('ScribeClaw')).toEqual([]);
    expect(texts('stranger')).toEqual([]);
    database.close();
  });

  it('returns to a caller only the changes it may see', () => {
    const { database } = createFixture();
    const changes = database.callReducer(CALLERS.owner, 'claim_task', { task_id: 2, lease_seconds: 30 });
    expect(changes.map((change) => change.table)).toEqual(['task']);
    database.close();
  });
});
