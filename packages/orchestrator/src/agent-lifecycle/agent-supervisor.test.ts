import { describe, expect, it } from 'vitest';
import { FakeAgentRuntime } from '../testing/fake-agent-runtime.ts';
import { AgentSupervisor, type SupervisorEvent } from './agent-supervisor.ts';

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

  it('refuses an agent supervised twice and a negative policy value', () => {
    const runtime = new FakeAgentRuntime();
    expect(() => new AgentSupervisor({ runtime, agents: [spec('A'), spec('A')] })).toThrow(/twice/);
    expect(() => new AgentSupervisor({ runtime, agents: [], restart: { initialDelayMs: -1 } })).toThrow(
      /initialDelayMs/,
    );
  });
});
