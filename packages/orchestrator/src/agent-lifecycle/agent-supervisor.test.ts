import { describe, expect, it } from 'vitest';
import { FakeAgentRuntime } from '../testing/fake-agent-runtime.ts';
import { type AgentLiveness, AgentSupervisor, type SupervisorEvent } from './agent-supervisor.ts';

const spec = (agent: string) => ({ agent, environment: { CLAW_AGENT_NAME: agent } });

async function until(condition: () => boolean): Promise<void> {
  for (let attempt = 0; attempt < 500 && !condition(); attempt += 1)
    await new Promise((resolve) => setTimeout(resolve, 2));
  expect(condition()).toBe(true);
}

function supervise(
  options: { agents?: string[]; now?: () => number; maxCrashes?: number; initialDelayMs?: number } = {},
) {
  const runtime = new FakeAgentRuntime();
  const events: SupervisorEvent[] = [];
  const givenUp: { agent: string; crashes: number }[] = [];
  const supervisor = new AgentSupervisor({
    runtime,
    agents: (options.agents ?? ['DevClaw']).map(spec),
    restart: {
      initialDelayMs: options.initialDelayMs ?? 1,
      multiplier: 2,
      maxDelayMs: Math.max(8, options.initialDelayMs ?? 0),
      maxCrashes: options.maxCrashes ?? 5,
      crashWindowMs: 60_000,
      stableAfterMs: 1_000,
    },
    onEvent: (event) => events.push(event),
    onGiveUp: (report) => {
      givenUp.push({ agent: report.agent, crashes: report.crashes });
    },
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  const running = (agent: string) => runtime.launched.filter((instance) => instance.agent === agent).at(-1);
  return { runtime, supervisor, events, givenUp, running };
}

describe('AgentSupervisor', () => {
  it('starts every agent with its own environment', async () => {
    const { supervisor, runtime } = supervise({ agents: ['LeadClaw', 'DevClaw', 'UXClaw'] });
    await supervisor.start();
    expect(runtime.launched.map((instance) => instance.spec.environment.CLAW_AGENT_NAME).sort()).toEqual([
      'DevClaw',
      'LeadClaw',
      'UXClaw',
    ]);
    expect(supervisor.status().every((status) => status.state === 'running')).toBe(true);
    await supervisor.stop({ graceMs: 10 });
  });

  it('restarts a crashed agent with a growing backoff, capped', async () => {
    let clock = 0;
    const { supervisor, events, running, runtime } = supervise({ now: () => clock, maxCrashes: 10 });
    await supervisor.start();
    for (let crash = 1; crash <= 5; crash += 1) {
      running('DevClaw')?.crash(1);
      await until(() => runtime.launched.length === crash + 1);
    }
    const delays = events.filter((event) => event.type === 'restart-scheduled').map((event) => event.delayMs);
    expect(delays).toEqual([1, 2, 4, 8, 8]);
    expect(supervisor.status()[0]).toMatchObject({ state: 'running', restarts: 5, recentCrashes: 5 });
    clock += 1_500; // a healthy run: the next crash starts the backoff over
    running('DevClaw')?.crash(1);
    await until(() => runtime.launched.length === 7);
    expect(events.filter((event) => event.type === 'restart-scheduled').at(-1)).toMatchObject({ delayMs: 1 });
    await supervisor.stop({ graceMs: 10 });
  });

  it('gives up on an agent that keeps crashing, reports it once, and leaves the others running', async () => {
    const { supervisor, givenUp, running, runtime } = supervise({ agents: ['DevClaw', 'OpsClaw'], maxCrashes: 3 });
    await supervisor.start();
    for (let crash = 1; crash <= 3; crash += 1) {
      running('DevClaw')?.crash(2);
      if (crash < 3)
        await until(() => runtime.launched.filter((instance) => instance.agent === 'DevClaw').length === crash + 1);
    }
    await until(() => givenUp.length === 1);
    expect(givenUp).toEqual([{ agent: 'DevClaw', crashes: 3 }]);
    const statuses = Object.fromEntries(supervisor.status().map((status) => [status.agent, status]));
    expect(statuses.DevClaw).toMatchObject({
      state: 'given-up',
      lastExit: { code: 2, signal: null },
      instance: undefined,
    });
    expect(statuses.OpsClaw).toMatchObject({ state: 'running', restarts: 0 });
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(runtime.launched.filter((instance) => instance.agent === 'DevClaw')).toHaveLength(3);
    await supervisor.stop({ graceMs: 10 });
  });

  it('gives up at once on an exit code a restart cannot fix (78: bad configuration)', async () => {
    const { supervisor, givenUp, running, runtime } = supervise({ maxCrashes: 5 });
    await supervisor.start();
    running('DevClaw')?.crash(78);
    await until(() => givenUp.length === 1);
    expect(givenUp).toEqual([{ agent: 'DevClaw', crashes: 1 }]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(runtime.launched).toHaveLength(1);
    await supervisor.stop({ graceMs: 10 });
  });

  it('treats a failed launch as a crash and retries it', async () => {
    const { supervisor, runtime } = supervise();
    runtime.failNextLaunch.add('DevClaw');
    await supervisor.start();
    await until(() => supervisor.status()[0]?.state === 'running');
    expect(supervisor.status()[0]).toMatchObject({ restarts: 1, recentCrashes: 1 });
    await supervisor.stop({ graceMs: 10 });
  });

  it('stops everything on stop: running agents get SIGTERM, a pending restart never happens', async () => {
    const { supervisor, runtime, running, events } = supervise({
      agents: ['DevClaw', 'UXClaw'],
      initialDelayMs: 60_000,
    });
    await supervisor.start();
    running('DevClaw')?.crash(1); // its restart is now pending
    await until(() => events.some((event) => event.type === 'restart-scheduled'));
    const ux = running('UXClaw');
    await supervisor.stop({ graceMs: 10 });
    expect(await ux?.exited).toEqual({ code: 0, signal: null });
    await new Promise((resolve) => setTimeout(resolve, 150)); // past the restart that was pending
    expect(runtime.launched).toHaveLength(2);
    expect(supervisor.status().map((status) => status.state)).toEqual(['stopped', 'stopped']);
    expect(events.filter((event) => event.type === 'exited' && event.agent === 'UXClaw')).toEqual([
      { type: 'exited', agent: 'UXClaw', exit: { code: 0, signal: null }, expected: true },
    ]);
  });

  describe('stall detection', () => {
    /**
     * A supervisor on a hand-moved clock whose agents' liveness the test sets: heartbeats older than
     * 60 s, or 30 s offline, after a 20 s start-up grace, is a stall. The check runs when the test
     * calls `checkStalls()` (the interval is long enough never to fire by itself).
     */
    function superviseStalls(options: { maxCrashes?: number; crashWindowMs?: number } = {}) {
      let clock = 0;
      const liveness = new Map<string, AgentLiveness>();
      const runtime = new FakeAgentRuntime();
      const events: SupervisorEvent[] = [];
      const givenUp: { agent: string; crashes: number; lastReason: string }[] = [];
      const supervisor = new AgentSupervisor({
        runtime,
        agents: [spec('DevClaw'), spec('OpsClaw')],
        now: () => clock,
        restart: {
          initialDelayMs: 1,
          maxDelayMs: 1,
          maxCrashes: options.maxCrashes ?? 5,
          crashWindowMs: options.crashWindowMs ?? 600_000,
        },
        liveness: (agent) => liveness.get(agent),
        stall: {
          heartbeatTimeoutMs: 60_000,
          offlineTimeoutMs: 30_000,
          startupGraceMs: 20_000,
          checkIntervalMs: 3_600_000,
          stopGraceMs: 5,
        },
        onEvent: (event) => events.push(event),
        onGiveUp: (report) => {
          givenUp.push({ agent: report.agent, crashes: report.crashes, lastReason: report.lastReason });
        },
      });
      const launches = (agent: string) => runtime.launched.filter((instance) => instance.agent === agent);
      const healthy = () => {
        liveness.set('DevClaw', { online: true, heartbeatAgeMs: 1_000 });
        liveness.set('OpsClaw', { online: true, heartbeatAgeMs: 1_000 });
      };
      healthy();
      return {
        supervisor,
        events,
        givenUp,
        liveness,
        launches,
        healthy,
        advance: (ms: number) => {
          clock += ms;
        },
      };
    }

    it('restarts an agent whose heartbeat went stale, with the reason in its status, and leaves a fresh one alone', async () => {
      const { supervisor, liveness, launches, advance, events } = superviseStalls();
      await supervisor.start();
      advance(25_000);
      liveness.set('DevClaw', { online: true, heartbeatAgeMs: 61_000 });
      liveness.set('OpsClaw', { online: true, heartbeatAgeMs: 59_000 });
      supervisor.checkStalls();
      const stalled = launches('DevClaw')[0];
      expect(await stalled?.exited).toEqual({ code: 0, signal: null }); // SIGTERM first
      await until(() => launches('DevClaw').length === 2);
      await until(() => supervisor.status()[0]?.state === 'running');
      expect(supervisor.status()[0]).toMatchObject({
        agent: 'DevClaw',
        restarts: 1,
        recentCrashes: 1,
        lastRestartReason: 'stalled: no heartbeat for 61 s',
      });
      expect(launches('OpsClaw')).toHaveLength(1);
      expect(supervisor.status()[1]).toMatchObject({ state: 'running', restarts: 0, lastRestartReason: undefined });
      expect(events).toContainEqual({
        type: 'stalled',
        agent: 'DevClaw',
        instance: stalled?.id,
        reason: 'stalled: no heartbeat for 61 s',
      });
      await supervisor.stop({ graceMs: 10 });
    });

    it('kills (SIGKILL) a stalled agent that ignores SIGTERM', async () => {
      const runtime = new FakeAgentRuntime();
      let clock = 0;
      const supervisor = new AgentSupervisor({
        runtime,
        agents: [{ agent: 'DevClaw', environment: { CLAW_FIXTURE_BEHAVIOUR: 'ignore-term' } }],
        now: () => clock,
        restart: { initialDelayMs: 1, maxDelayMs: 1 },
        liveness: () => ({ online: true, heartbeatAgeMs: 120_000 }),
        stall: { startupGraceMs: 0, checkIntervalMs: 3_600_000, stopGraceMs: 5 },
      });
      await supervisor.start();
      clock += 1;
      supervisor.checkStalls();
      expect(await runtime.launched[0]?.exited).toEqual({ code: null, signal: 'SIGKILL' });
      await until(() => runtime.launched.length === 2);
      await supervisor.stop({ graceMs: 5 });
    });

    it('restarts an agent disconnected past the offline window, not one that reconnects in time', async () => {
      const { supervisor, liveness, launches, advance, healthy } = superviseStalls();
      await supervisor.start();
      advance(25_000);
      liveness.set('DevClaw', { online: false, heartbeatAgeMs: 16_000 }); // dropped as unresponsive
      supervisor.checkStalls();
      advance(20_000);
      healthy(); // reconnected within the window
      supervisor.checkStalls();
      liveness.set('DevClaw', { online: false, heartbeatAgeMs: 16_000 });
      supervisor.checkStalls();
      advance(29_000);
      supervisor.checkStalls();
      expect(launches('DevClaw')).toHaveLength(1); // offline 29 s since it dropped again
      advance(2_000);
      supervisor.checkStalls();
      await until(() => launches('DevClaw').length === 2);
      await until(() => supervisor.status()[0]?.state === 'running');
      expect(supervisor.status()[0]?.lastRestartReason).toBe('stalled: disconnected for 31 s and not reconnected');
      await supervisor.stop({ graceMs: 10 });
    });

    it('judges no stall during the start-up grace, nor of a paused agent', async () => {
      const { supervisor, liveness, launches, advance } = superviseStalls();
      await supervisor.start();
      liveness.set('DevClaw', { online: false, heartbeatAgeMs: undefined });
      liveness.set('OpsClaw', { online: false, heartbeatAgeMs: 900_000 });
      advance(19_000);
      supervisor.checkStalls();
      expect(launches('DevClaw')).toHaveLength(1);
      expect(launches('OpsClaw')).toHaveLength(1);
      await supervisor.control('OpsClaw', 'pause', { graceMs: 5 });
      advance(600_000);
      supervisor.checkStalls();
      await until(() => launches('DevClaw').length === 2); // past its grace, never heartbeating: restarted
      expect(supervisor.status()[0]?.lastRestartReason).toBe('stalled: no heartbeat for its whole run');
      expect(launches('OpsClaw')).toHaveLength(1);
      expect(supervisor.status()[1]).toMatchObject({ state: 'paused', restarts: 0 });
      await supervisor.stop({ graceMs: 10 });
    });

    it('counts stall restarts against the crash budget: an agent that keeps stalling is given up on', async () => {
      const { supervisor, liveness, launches, advance, givenUp } = superviseStalls({ maxCrashes: 3 });
      await supervisor.start();
      liveness.set('DevClaw', { online: true, heartbeatAgeMs: 70_000 });
      for (let stall = 1; stall <= 3; stall += 1) {
        advance(21_000); // past the grace of the instance now running
        supervisor.checkStalls();
        if (stall < 3) {
          await until(() => launches('DevClaw').length === stall + 1);
          await until(() => supervisor.status()[0]?.state === 'running');
        }
      }
      await until(() => givenUp.length === 1);
      expect(givenUp).toEqual([{ agent: 'DevClaw', crashes: 3, lastReason: 'stalled: no heartbeat for 70 s' }]);
      expect(supervisor.status()[0]).toMatchObject({ state: 'given-up', restarts: 2, instance: undefined });
      advance(600_000);
      supervisor.checkStalls();
      expect(launches('DevClaw')).toHaveLength(3);
      await supervisor.stop({ graceMs: 10 });
    });

    it('refuses a stall policy value out of range', () => {
      const runtime = new FakeAgentRuntime();
      expect(() => new AgentSupervisor({ runtime, agents: [], stall: { checkIntervalMs: 0 } })).toThrow(
        /stall policy `checkIntervalMs` to be a number >= 1/,
      );
      expect(() => new AgentSupervisor({ runtime, agents: [], stall: { heartbeatTimeoutMs: Number.NaN } })).toThrow(
        /heartbeatTimeoutMs/,
      );
    });
  });

  it('refuses an agent supervised twice and a negative policy value', () => {
    const runtime = new FakeAgentRuntime();
    expect(() => new AgentSupervisor({ runtime, agents: [spec('A'), spec('A')] })).toThrow(/twice/);
    expect(() => new AgentSupervisor({ runtime, agents: [], restart: { initialDelayMs: -1 } })).toThrow(
      /initialDelayMs/,
    );
  });
});
