import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, Orchestrator } from '@clawfleet/orchestrator';
import { FakeAgentRuntime } from '@clawfleet/orchestrator/testing';
import { silentLogger } from '@clawfleet/protocol';
import { writeTinyModel } from '@clawfleet/tiny-model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The orchestrator's supervision of its agents, with the real orchestrator (bus, worker, socket)
 * and a fake agent runtime whose agents the test crashes by hand. The real agent processes are
 * exercised end to end in agents.int.test.ts.
 */
let scratch: string;
let orchestrator: Orchestrator;
const runtime = new FakeAgentRuntime();

async function until(condition: () => boolean): Promise<void> {
  for (let attempt = 0; attempt < 1000 && !condition(); attempt += 1)
    await new Promise((resolve) => setTimeout(resolve, 5));
  expect(condition()).toBe(true);
}

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'claw-supervision-'));
  const modelPath = join(scratch, 'tiny.gguf');
  await writeTinyModel(modelPath);
  const config = loadConfig(
    {
      PATH: '/usr/bin:/bin',
      CLAW_DATA_DIR: join(scratch, 'data'),
      CLAW_MODEL_PATH: modelPath,
      CLAW_SLOTS: '1',
      CLAW_CONTEXT_SIZE: '256',
      CLAW_THREADS: '1',
      CLAW_GPU: 'cpu',
      CLAW_DRAIN_TIMEOUT_MS: '500',
      // The fake agents never heartbeat: no stall is judged of them during the test.
      CLAW_AGENT_START_GRACE_SECONDS: '3600',
    },
    scratch,
  );
  orchestrator = await Orchestrator.start(config, silentLogger, {
    agentRuntime: runtime,
    agentRestart: { initialDelayMs: 1, maxDelayMs: 4, maxCrashes: 3, crashWindowMs: 60_000 },
  });
});
afterAll(async () => {
  await orchestrator?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

describe('agent supervision under the orchestrator', () => {
  it('starts the five agents once the bus is up, each with its name, token, socket and workspaces', () => {
    const tokens = JSON.parse(readFileSync(orchestrator.config.tokensPath, 'utf8')) as Record<string, string>;
    const specs = runtime.launched.map((instance) => instance.spec);
    expect(specs.map((spec) => spec.agent).sort()).toEqual(['DevClaw', 'LeadClaw', 'OpsClaw', 'ScribeClaw', 'UXClaw']);
    for (const spec of specs) {
      expect(spec.environment).toEqual({
        PATH: '/usr/bin:/bin',
        CLAW_AGENT_NAME: spec.agent,
        CLAW_AGENT_TOKEN: tokens[spec.agent],
        CLAW_SOCKET: orchestrator.config.socketPath,
        CLAW_AGENT_WORKSPACE: join(orchestrator.config.workspaceDirectory, 'agents', spec.agent),
        CLAW_SHARED_WORKSPACE: orchestrator.config.workspaceDirectory,
        CLAW_AGENT_STATE_DIR: join(orchestrator.config.dataDirectory, 'agent-state', spec.agent),
        CLAW_LOG_LEVEL: 'info',
        CLAW_LOG_FORMAT: 'json',
        // The supervisor judges stalls from these heartbeats (docs/agents.md#supervision).
        CLAW_AGENT_HEARTBEAT_SECONDS: '10',
        // The agent fits its prompts to the context of the model its requests go to.
        CLAW_AGENT_CONTEXT_TOKENS: String(
          orchestrator.config.models.find((model) => model.id === orchestrator.config.agents[spec.agent]?.modelId)
            ?.contextSize,
        ),
      });
      expect(statSync(spec.environment.CLAW_AGENT_WORKSPACE as string).isDirectory()).toBe(true);
    }
  });

  it('restarts a crashed agent, and raises an attention request once it keeps crashing', async () => {
    const devLaunches = () => runtime.launched.filter((instance) => instance.agent === 'DevClaw');
    for (let crash = 1; crash <= 3; crash += 1) {
      devLaunches().at(-1)?.crash(1);
      if (crash < 3) await until(() => devLaunches().length === crash + 1);
    }
    const attention = () =>
      orchestrator.database.query('orchestrator', 'attention_request').filter((row) => row.agent === 'DevClaw');
    await until(() => attention().length === 1);
    expect(attention()[0]).toMatchObject({ state: 'open', priority: 8, default_action: 'leave the agent stopped' });
    expect(String(attention()[0]?.text)).toContain('DevClaw crashed 3 times');
    const status = Object.fromEntries((orchestrator.agents?.status() ?? []).map((entry) => [entry.agent, entry.state]));
    expect(status).toEqual({
      LeadClaw: 'running',
      DevClaw: 'given-up',
      UXClaw: 'running',
      OpsClaw: 'running',
      ScribeClaw: 'running',
    });
  });

  it('stops every agent first when the orchestrator stops', async () => {
    const running = runtime.launched.filter((instance) => instance.agent !== 'DevClaw');
    await orchestrator.stop();
    for (const instance of running) expect(await instance.exited).toEqual({ code: 0, signal: null });
    expect(
      orchestrator.agents?.status().every((entry) => entry.state === 'stopped' || entry.state === 'given-up'),
    ).toBe(true);
  });
});
