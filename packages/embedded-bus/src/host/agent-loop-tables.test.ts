import { describe, expect, it } from 'vitest';
import { ADMIN, createFixture, OTHER, OWNER } from '../testing/test-fixture.ts';
import { identityForName } from './identity.ts';

describe('agent loop tables', () => {
  it('lets one loop session per agent run: another session is refused while the lease lives, and gets it once the lease lapses or the agent has no connection left', () => {
    const { database, clock, runnerSession } = createFixture();
    for (const agent of [OWNER, OTHER]) database.callReducer(agent, 'release_agent_runner', { session: runnerSession });
    const claim = (session: string, agent = OWNER) =>
      database.callReducer(agent, 'claim_agent_runner', { session, lease_seconds: 30 });
    const runner = () => database.query(OWNER, 'agent_runner', { agent: OWNER })[0];
    claim('session-first');
    expect(runner()).toMatchObject({ agent: OWNER, session: 'session-first' });
    // Another instance of the same agent (same identity) is refused, saying who holds it.
    expect(() => claim('session-second')).toThrow(/DevClaw is already running \(session session-first/);
    // Another agent has its own runner.
    claim('session-other', OTHER);
    // Renewing moves the lease; the start time stays.
    const started = runner()!.started_at;
    clock.now += 20_000;
    claim('session-first');
    expect(runner()!.started_at).toBe(started);
    clock.now += 29_000;
    expect(() => claim('session-second')).toThrow(/already running/);
    // Not renewed past its lease (a stalled or dead instance whose connection lingers): taken over.
    clock.now += 2_000;
    claim('session-second');
    expect(runner()!.session).toBe('session-second');
    // The old session can neither renew nor release the lease it lost.
    expect(() => claim('session-first')).toThrow(/already running \(session session-second/);
    expect(() => database.callReducer(OWNER, 'release_agent_runner', { session: 'session-first' })).toThrow(
      /held by another session/,
    );
    // A stopping loop releases it; releasing again is a no-op.
    database.callReducer(OWNER, 'release_agent_runner', { session: 'session-second' });
    database.callReducer(OWNER, 'release_agent_runner', { session: 'session-second' });
    expect(runner()).toBeUndefined();
    // A killed process: its connection closes and, with no connection of the agent left, the lease goes.
    database.clientConnected(OWNER);
    database.clientConnected(OWNER);
    claim('session-third');
    database.clientDisconnected(OWNER);
    expect(runner()?.session).toBe('session-third');
    database.clientDisconnected(OWNER);
    expect(runner()).toBeUndefined();
    claim('session-fourth');
    database.close();
  });

  it('wakes a deferred cycle when its time comes, and not before', () => {
    const { database, clock, triagingCycleId } = createFixture();
    database.callReducer(OWNER, 'record_triage', {
      cycle_id: triagingCycleId,
      decision: 'defer',
      priority: 2,
      reason: 'later',
      defer_seconds: 120,
    });
    const phase = () => database.query(OWNER, 'cycle', { id: triagingCycleId })[0]!.phase;
    expect(phase()).toBe('deferred');
    clock.now += 119_000;
    database.runDueSchedules();
    expect(phase()).toBe('deferred');
    clock.now += 1_000;
    database.runDueSchedules();
    expect(phase()).toBe('due');
    // A due cycle is triaged again.
    database.callReducer(OWNER, 'record_triage', {
      cycle_id: triagingCycleId,
      decision: 'act',
      priority: 2,
      reason: 'now',
      defer_seconds: 0,
    });
    expect(phase()).toBe('acting');
    database.close();
  });

  it('turns a periodic tick into a schedule stimulus for its agent and schedules the next', () => {
    const { database, clock } = createFixture();
    const ticks = () => database.query(ADMIN, 'stimulus').filter((row) => row.kind === 'schedule');
    clock.now += 600_000;
    database.runDueSchedules();
    expect(ticks().map((row) => row.target_agent)).toEqual([OWNER]);
    clock.now += 600_000;
    database.runDueSchedules();
    expect(ticks()).toHaveLength(2);
    // Setting the same interval again (a restart) keeps the pending tick; 0 stops the ticks.
    const pending = database.query(ADMIN, 'agent_wake_schedule');
    database.callReducer(OWNER, 'set_agent_schedule', { interval_seconds: 600 });
    expect(database.query(ADMIN, 'agent_wake_schedule')).toEqual(pending);
    database.callReducer(OWNER, 'set_agent_schedule', { interval_seconds: 0 });
    clock.now += 3_600_000;
    database.runDueSchedules();
    expect(ticks()).toHaveLength(2);
    database.close();
  });

  it('records a tool call once per step and refuses to record it again', () => {
    const { database, actingCycleId, toolCallKey } = createFixture();
    const finish = () =>
      database.callReducer(OWNER, 'finish_tool_call', {
        idempotency_key: toolCallKey,
        state: 'succeeded',
        result_digest: 'c'.repeat(64),
        result: 'contents',
        error_code: '',
        duration_ms: 4,
      });
    finish();
    expect(finish).toThrow(/already succeeded/);
    const [call] = database.query(OWNER, 'tool_call', { idempotency_key: toolCallKey });
    expect(call).toMatchObject({ state: 'succeeded', result: 'contents', cycle_id: actingCycleId, step: 0 });
    expect(database.query(OWNER, 'cycle', { id: actingCycleId })[0]!.steps).toBe(1);
    database.close();
  });

  it('adds each inference call to its cycle’s token count', () => {
    const { database, actingCycleId } = createFixture();
    for (const tokens of [10, 32]) {
      database.callReducer(OWNER, 'record_cycle_inference', {
        cycle_id: actingCycleId,
        phase: 'act',
        model: 'tiny',
        request_id: '',
        prompt_hash: 'd'.repeat(64),
        max_tokens: 64,
        tokens_in: tokens,
        tokens_out: 1,
      });
    }
    expect(database.query(OWNER, 'cycle', { id: actingCycleId })[0]!.tokens).toBe(44);
    expect(database.query(OWNER, 'cycle_inference')).toHaveLength(2);
    database.close();
  });

  it('lets a plan approver decide other agents’ plans but never its own', () => {
    const { database, planId, actingCycleId } = createFixture();
    database.callReducer(ADMIN, 'set_plan_approver', { agent: OTHER, allowed: true });
    database.callReducer(OTHER, 'decide_plan', { plan_id: planId, approve: false, reason: 'too risky' });
    expect(database.query(OWNER, 'plan', { id: planId })[0]).toMatchObject({
      state: 'rejected',
      decided_by: OTHER,
      decision_reason: 'too risky',
    });
    // The owner cannot decide its own plan even as an approver.
    database.callReducer(ADMIN, 'set_plan_approver', { agent: OWNER, allowed: true });
    database.callReducer(OWNER, 'submit_plan', { cycle_id: actingCycleId, text: 'my plan', tools: [] });
    const own = database.query(OWNER, 'plan').find((row) => row.cycle_id === actingCycleId)!;
    expect(() => database.callReducer(OWNER, 'decide_plan', { plan_id: own.id, approve: true, reason: '' })).toThrow(
      /own; another approver must decide it/,
    );
    expect(database.query(OWNER, 'cycle', { id: actingCycleId })[0]!.phase).toBe('awaiting_approval');
    database.close();
  });

  it('turns a failed task into a stimulus for the agent that reacts to failures, recorded as a firing', () => {
    const { database, claimedTaskId } = createFixture();
    database.callReducer(ADMIN, 'register_agent', {
      name: 'LeadClaw',
      identity: identityForName('LeadClaw'),
      role: 'coordination',
    });
    database.callReducer('LeadClaw', 'set_reaction', { event: 'task_failed', priority: 8, enabled: true });
    // The owner's own reaction does not fire for its own failure.
    database.callReducer(OWNER, 'set_reaction', { event: 'task_failed', priority: 8, enabled: true });
    database.callReducer(OWNER, 'fail_task', { task_id: claimedTaskId, reason: 'tests fail' });
    const stimuli = database.query(ADMIN, 'stimulus').filter((row) => row.source === 'reaction');
    expect(stimuli).toHaveLength(1);
    expect(stimuli[0]).toMatchObject({ kind: 'task_failed', target_agent: 'LeadClaw', priority: 8 });
    expect(String(stimuli[0]!.text)).toContain('tests fail');
    expect(database.query(ADMIN, 'reaction_firing')).toEqual([
      expect.objectContaining({ agent: 'LeadClaw', source_kind: 'task', source_id: claimedTaskId }),
    ]);
    database.close();
  });

  it('keeps progress_at while the reported progress stays the same, so a stall shows', () => {
    const { database, clock, actingCycleId } = createFixture();
    const report = (progress: string) =>
      database.callReducer(OWNER, 'report_agent_status', {
        phase: 'acting',
        cycle_id: actingCycleId,
        progress,
        queue_length: 0,
      });
    report('step 1: files.read');
    const first = database.query(OWNER, 'agent_status')[0]!;
    clock.now += 60_000;
    report('step 1: files.read');
    const same = database.query(OWNER, 'agent_status')[0]!;
    expect(same.progress_at).toBe(first.progress_at);
    expect(same.updated_at).not.toBe(first.updated_at);
    report('step 2: files.write');
    expect(database.query(OWNER, 'agent_status')[0]!.progress_at).not.toBe(first.progress_at);
    database.close();
  });
});
