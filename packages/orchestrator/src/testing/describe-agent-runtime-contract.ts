import { describe, expect, it } from 'vitest';
import type { AgentInstance, AgentRuntime } from '../agent-lifecycle/agent-runtime.ts';

export interface AgentRuntimeHarness {
  /** A runtime whose agents run `agent-fixture.ts` (or behave as it does); every output line goes to `onOutput`. */
  createRuntime(onOutput: (agent: string, stream: 'stdout' | 'stderr', line: string) => void): AgentRuntime;
}

/**
 * What every AgentRuntime (processes now, containers later) must do, whatever it runs on: start an
 * agent with exactly the environment given, report how it ended, stop it gracefully and kill it
 * when it does not stop.
 */
export function describeAgentRuntimeContract(name: string, harness: AgentRuntimeHarness): void {
  describe(`AgentRuntime contract: ${name}`, () => {
    const lines: { agent: string; line: string }[] = [];
    const runtime = harness.createRuntime((agent, _stream, line) => lines.push({ agent, line }));
    const launch = (agent: string, behaviour: string, extra: Record<string, string> = {}) =>
      runtime.launch({
        agent,
        environment: { PATH: process.env.PATH ?? '/usr/bin:/bin', CLAW_FIXTURE_BEHAVIOUR: behaviour, ...extra },
      });
    const ready = async (agent: string) => {
      for (
        let attempt = 0;
        attempt < 400 && !lines.some((entry) => entry.agent === agent && entry.line === 'fixture ready');
        attempt += 1
      ) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };

    it('stops a running agent with SIGTERM: it exits 0 on its own', async () => {
      const instance = await launch('Stopper', 'run');
      await ready('Stopper');
      expect(await instance.stop({ graceMs: 10_000 })).toEqual({ code: 0, signal: null });
      expect(await instance.exited).toEqual({ code: 0, signal: null });
    });

    it('reports a crash with its exit code, and stop afterwards returns that exit', async () => {
      const instance = await launch('Crasher', 'exit-3');
      expect(await instance.exited).toEqual({ code: 3, signal: null });
      expect(await instance.stop({ graceMs: 10 })).toEqual({ code: 3, signal: null });
    });

    it('kills an agent that ignores SIGTERM once the grace period is over', async () => {
      const instance = await launch('Stubborn', 'ignore-term');
      await ready('Stubborn');
      expect(await instance.stop({ graceMs: 200 })).toEqual({ code: null, signal: 'SIGKILL' });
    });

    it('delivers SIGKILL at once', async () => {
      const instance: AgentInstance = await launch('Victim', 'run');
      await ready('Victim');
      instance.signal('SIGKILL');
      expect(await instance.exited).toEqual({ code: null, signal: 'SIGKILL' });
    });

    it('gives the agent exactly the environment of its launch spec', async () => {
      process.env.CLAW_CONTRACT_LEAK = 'must not reach the agent';
      try {
        const instance = await launch('Printer', 'print-env', { CLAW_AGENT_NAME: 'Printer' });
        await ready('Printer');
        const printed = lines.find((entry) => entry.agent === 'Printer' && entry.line.startsWith('['));
        expect(JSON.parse(printed?.line ?? '[]')).toEqual(['CLAW_AGENT_NAME', 'CLAW_FIXTURE_BEHAVIOUR', 'PATH']);
        await instance.stop({ graceMs: 5_000 });
      } finally {
        delete process.env.CLAW_CONTRACT_LEAK;
      }
    });
  });
}
