import { describe, expect, it } from 'vitest';
import { FakeAgentRuntime } from '../testing/fake-agent-runtime.ts';
import { AgentSupervisor, type SupervisorEvent } from './agent-supervisor.ts';

/** A person's restart, pause and resume of one agent (`claw agents ...` through admin.agent-control). */
function supervise(agents: string[], maxCrashes = 5) {
  const runtime = new FakeAgentRuntime();
  const events: SupervisorEvent[] = [];
  const supervisor = new AgentSupervisor({
    runtime,
    agents: agents.map((agent) => ({ agent, environment: { CLAW_AGENT_NAME: agent } })),
    restart: {
      initialDelayMs: 1,
      multiplier: 2,
      maxDelayMs: 8,
      maxCrashes,
      crashWindowMs: 60_000,
      stableAfterMs: 1_000,
    },
    onEvent: (event) => events.push(event),
  });
  const launches = (agent: string) => runtime.launched.filter((instance) => instance.agent === agent);
  return { supervisor, runtime, events, launches };
}

async function settle(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 30));
}

describe('AgentSupervisor.control', () => {
  it('pause stops the agent and restarts nothing until resume, which launches it again', async () => {
    const { supervisor, launches, events } = supervise(['OpsClaw', 'DevClaw']);
    await supervisor.start();
    const paused = await supervisor.control('OpsClaw', 'pause', { graceMs: 50 });
    expect(paused).toMatchObject({ agent: 'OpsClaw', state: 'paused', instance: undefined, recentCrashes: 0 });
    await settle();
    expect(launches('OpsClaw')).toHaveLength(1);
    expect(events).not.toContainEqual(expect.objectContaining({ type: 'restart-scheduled', agent: 'OpsClaw' }));
    expect(supervisor.status().find((status) => status.agent === 'DevClaw')?.state).toBe('running');

    const resumed = await supervisor.control('OpsClaw', 'resume', { graceMs: 50 });
    expect(resumed).toMatchObject({ state: 'running', instance: launches('OpsClaw')[1]!.id });
    await supervisor.stop({ graceMs: 10 });
  });

  it('restart replaces the running instance at once, without counting a crash', async () => {
    const { supervisor, launches } = supervise(['DevClaw']);
    await supervisor.start();
    const first = launches('DevClaw')[0]!;
    const status = await supervisor.control('DevClaw', 'restart', { graceMs: 50 });
    expect(await first.exited).toEqual({ code: 0, signal: null });
    expect(status).toMatchObject({
      state: 'running',
      restarts: 1,
      recentCrashes: 0,
      instance: launches('DevClaw')[1]!.id,
    });
    await settle();
    expect(launches('DevClaw')).toHaveLength(2);
    await supervisor.stop({ graceMs: 10 });
  });

  it('restart brings back an agent that was given up on, with a fresh crash budget', async () => {
    const { supervisor, launches } = supervise(['UXClaw'], 1);
    await supervisor.start();
    launches('UXClaw')[0]!.crash(1);
    await settle();
    expect(supervisor.status()[0]?.state).toBe('given-up');
    expect((await supervisor.control('UXClaw', 'restart', { graceMs: 50 })).state).toBe('running');
    await supervisor.stop({ graceMs: 10 });
  });

  it('refuses an unknown agent, resuming a running one and pausing twice', async () => {
    const { supervisor } = supervise(['LeadClaw']);
    await supervisor.start();
    await expect(supervisor.control('Ghost', 'pause', { graceMs: 10 })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(supervisor.control('LeadClaw', 'resume', { graceMs: 10 })).rejects.toMatchObject({
      code: 'CONFLICT',
      message: 'LeadClaw is running, not paused',
    });
    await supervisor.control('LeadClaw', 'pause', { graceMs: 10 });
    await expect(supervisor.control('LeadClaw', 'pause', { graceMs: 10 })).rejects.toMatchObject({
      message: 'LeadClaw is already paused',
    });
    await supervisor.stop({ graceMs: 10 });
    await expect(supervisor.control('LeadClaw', 'resume', { graceMs: 10 })).rejects.toMatchObject({
      code: 'SHUTTING_DOWN',
    });
  });
});
