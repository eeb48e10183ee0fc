import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BusClient, type BusRow, type BusTableName, EmbeddedBusClient } from '@clawfleet/bus-client';
import { InferenceClient } from '@clawfleet/inference-client';
import { IpcClient } from '@clawfleet/ipc';
import { AgentMemory } from '@clawfleet/memory';
import { type GenerateRequest, loadConfig, Orchestrator } from '@clawfleet/orchestrator';
import { ScriptedInferenceLayer } from '@clawfleet/orchestrator/testing';
import { silentLogger } from '@clawfleet/protocol';
import { writeTinyModel } from '@clawfleet/tiny-model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The five agents end to end: the real orchestrator (embedded bus, inference worker on the
 * generated tiny model) supervising the five real agent processes (agent-main.ts).
 *
 * The tiny model answers random but grammar-valid JSON, so what it decides cannot be asserted.
 * Where a specific branch must happen, a stimulus carries a marker and a `ScriptedInferenceLayer`
 * in front of the real worker answers that agent's requests for it (and only those; every other
 * request, other agents' included, runs on the real model):
 *   [e2e-act]       DevClaw triages act, writes hello.txt, finishes, reflects (scripted text)
 *   [e2e-delegate]  LeadClaw triages delegate to DevClaw; DevClaw ignores the delegated task
 *   [e2e-kill]      DevClaw acts on a task: step 1 sends a message, step 2 is held until DevClaw
 *                   is killed, and answered with finish after its restart
 * One stimulus has no marker: UXClaw handles it on the real model, and the test asserts only what
 * the system guarantees (a cycle, phases moving to the end, inference recorded with provenance).
 */
const LEASE_SECONDS = 3;
const REFLECTION = 'Wrote hello.txt with the zebra lighthouse greeting';

let scratch: string;
let orchestrator: Orchestrator;
let layer: ScriptedInferenceLayer;
let admin: BusClient;
let tokens: Record<string, string>;
const agentLines: string[] = [];
let killStepHeld: () => void = () => {};
const killStepWasHeld = new Promise<void>((resolve) => {
  killStepHeld = resolve;
});
let killStepAnswered = false;

const props = (request: GenerateRequest) =>
  (request.jsonSchema as { properties?: Record<string, unknown> } | undefined)?.properties;
const agentOf = (request: GenerateRequest) => /You are (\w+),/.exec(request.prefix ?? '')?.[1];

const triage = (request: GenerateRequest, decision: string, delegateTo = 'none', message = '') =>
  JSON.stringify({
    decision,
    priority: '5',
    reason: `scripted ${decision}`,
    delegate_to: delegateTo,
    message,
    defer_minutes: '0',
    ...('cites' in (props(request) ?? {}) ? { cites: [] } : {}),
  });
const tool = (name: string, args: Record<string, unknown>) =>
  JSON.stringify({ action: 'tool', tool: name, args: JSON.stringify(args), outcome: 'none', summary: '' });
const finish = (summary: string) =>
  JSON.stringify({ action: 'finish', tool: 'none', args: '', outcome: 'success', summary });

/** The forced branches, by agent and marker; `undefined` lets the real model answer. */
function script(request: GenerateRequest): string | undefined | Promise<string | undefined> {
  const properties = props(request);
  if (properties === undefined) return undefined;
  const phase =
    'decision' in properties
      ? 'triage'
      : 'action' in properties
        ? 'act'
        : 'lessons' in properties
          ? 'reflect'
          : undefined;
  const agent = agentOf(request);
  const prompt = request.prompt;
  // The act prompt lists the steps taken so far, or says `(nothing yet)` before the first.
  const afterFirstStep = !prompt.includes('(nothing yet)');
  if (agent === 'DevClaw' && prompt.includes('[e2e-delegated]'))
    return phase === 'triage' ? triage(request, 'ignore') : undefined;
  if (agent === 'DevClaw' && prompt.includes('[e2e-act]')) {
    if (phase === 'triage') return triage(request, 'act');
    if (phase === 'act')
      return afterFirstStep
        ? finish('wrote hello.txt')
        : tool('files.write', { path: 'hello.txt', content: 'hello from DevClaw\n' });
    if (phase === 'reflect') {
      return JSON.stringify({
        summary: REFLECTION,
        outcome: 'success',
        lessons: 'none',
        importance: '0.8',
        tags: ['e2e'],
      });
    }
  }
  if (agent === 'DevClaw' && prompt.includes('[e2e-kill]')) {
    if (phase === 'triage') return triage(request, 'act');
    if (phase === 'act' && !afterFirstStep) return tool('message.send', { to: 'LeadClaw', text: '[e2e-kill] started' });
    if (phase === 'act' && !killStepAnswered) {
      killStepHeld();
      return new Promise<string>(() => {}); // held until the agent dies and the request is aborted
    }
    if (phase === 'act') return finish('Tidied the workspace after a restart; ran the tests and the build: both pass');
  }
  if (agent === 'LeadClaw' && prompt.includes('[e2e-delegate]') && phase === 'triage') {
    return triage(request, 'delegate', 'DevClaw', '[e2e-delegated] please look at the failing build');
  }
  return undefined;
}

async function until<T>(what: string, probe: () => T | undefined | false, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) {
      const cycles = rows('cycle').map((row) =>
        JSON.stringify(row, (_key, value) => (typeof value === 'bigint' ? String(value) : value)),
      );
      throw new Error(
        `timed out waiting for ${what}\ncycles:\n${cycles.join('\n')}\nlast agent lines:\n${agentLines.slice(-30).join('\n')}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const rows = (table: BusTableName) => admin.rows(table) as unknown as BusRow[];
const cyclesOf = (agent: string) => rows('cycle').filter((row) => row.agent === agent);

async function stimulus(text: string, targetAgent: string): Promise<number> {
  const before = new Set(rows('stimulus').map((row) => row.id));
  await admin.callReducer('create_stimulus', {
    source: 'e2e',
    kind: 'message',
    text,
    priority: 7,
    target_agent: targetAgent,
  });
  const created = rows('stimulus').find((row) => !before.has(row.id));
  return created?.id as number;
}

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'claw-agents-e2e-'));
  const modelPath = join(scratch, 'tiny.gguf');
  await writeTinyModel(modelPath);
  const config = loadConfig(
    {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      CLAW_DATA_DIR: join(scratch, 'data'),
      CLAW_MODEL_PATH: modelPath,
      CLAW_SLOTS: '2',
      CLAW_THREADS: '1',
      CLAW_GPU: 'cpu',
      CLAW_DRAIN_TIMEOUT_MS: '5000',
    },
    scratch,
  );
  orchestrator = await Orchestrator.start(config, silentLogger, {
    inferenceBackend: (worker) => {
      layer = new ScriptedInferenceLayer(worker, script);
      return layer;
    },
    agentEnvironment: { CLAW_TASK_LEASE_SECONDS: String(LEASE_SECONDS) },
    // The restart waits past the lease, so the killed agent's task is seen back in the queue first.
    agentRestart: { initialDelayMs: (LEASE_SECONDS + 4) * 1000 },
    onAgentOutput: (agent, _stream, line) => agentLines.push(`${agent}: ${line}`),
  });
  tokens = JSON.parse(readFileSync(config.tokensPath, 'utf8')) as Record<string, string>;
  admin = await EmbeddedBusClient.connect({ socketPath: config.socketPath, name: 'cli', token: tokens.cli as string });
  await admin.subscribe(
    [
      'stimulus',
      'task',
      'cycle',
      'tool_call',
      'cycle_inference',
      'inference_usage',
      'reflection',
      'memory_entry',
      'memory_link',
      'message',
      'agent_status',
      'plan_approver',
    ].map((table) => `SELECT * FROM ${table as BusTableName}` as const),
  ).ready;
  await until('five agents reporting status', () => rows('agent_status').length === 5);
});

afterAll(async () => {
  await admin?.dispose();
  await orchestrator?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

describe('five agents under the orchestrator', () => {
  it('runs the five agents as supervised processes, online on the bus', () => {
    const status = orchestrator.agents?.status() ?? [];
    expect(status.map((entry) => [entry.agent, entry.state]).sort()).toEqual([
      ['DevClaw', 'running'],
      ['LeadClaw', 'running'],
      ['OpsClaw', 'running'],
      ['ScribeClaw', 'running'],
      ['UXClaw', 'running'],
    ]);
    expect(
      rows('agent_status')
        .map((row) => row.agent)
        .sort(),
    ).toEqual(['DevClaw', 'LeadClaw', 'OpsClaw', 'ScribeClaw', 'UXClaw']);
    // The orchestrator granted plan approval from the agent folders: LeadClaw's says approvesPlans.
    expect(rows('plan_approver').map((row) => row.agent)).toEqual(['LeadClaw']);
  });

  it('triages, acts and reflects on a stimulus, and the reflection is retrievable as memory (scripted: [e2e-act])', async () => {
    const stimulusId = await stimulus('[e2e-act] please write hello.txt', 'DevClaw');
    const cycle = await until('the act cycle to finish', () =>
      cyclesOf('DevClaw').find((row) => row.trigger_key === `stimulus:${stimulusId}` && row.phase === 'done'),
    );
    expect(cycle, String(cycle.outcome_detail)).toMatchObject({
      trigger_kind: 'stimulus',
      decision: 'act',
      outcome: 'success',
    });
    const calls = rows('tool_call').filter((row) => row.cycle_id === cycle.id);
    expect(calls.map((row) => [row.step, row.tool, row.state, row.side_effect])).toEqual([
      [0, 'files.write', 'succeeded', true],
    ]);
    const written = join(orchestrator.config.workspaceDirectory, 'agents', 'DevClaw', 'hello.txt');
    expect(readFileSync(written, 'utf8')).toBe('hello from DevClaw\n');
    // Every inference call of the cycle is recorded with its phase; the phases moved in order.
    const phases = rows('cycle_inference')
      .filter((row) => row.cycle_id === cycle.id)
      .sort((a, b) => Number(a.id) - Number(b.id))
      .map((row) => row.phase);
    expect(phases).toEqual(['triage', 'act', 'act', 'reflect']);

    const reflection = await until('the reflection', () =>
      rows('reflection').find((row) => row.agent === 'DevClaw' && String(row.text).includes(REFLECTION)),
    );
    const links = rows('memory_link').filter((row) => row.memory_id === reflection.memory_id);
    const linked = links.map((row) => `${row.target_kind}:${row.target_id}`);
    expect(linked).toEqual(expect.arrayContaining([`cycle:${cycle.id}`, `stimulus:${stimulusId}`]));

    // Retrieval as the agent itself, over its own connection: the reflection comes first.
    const ipc = await IpcClient.connect({
      socketPath: orchestrator.config.socketPath,
      agent: 'DevClaw',
      token: tokens.DevClaw as string,
    });
    const bus = await EmbeddedBusClient.connect({
      socketPath: orchestrator.config.socketPath,
      name: 'DevClaw',
      token: tokens.DevClaw as string,
    });
    const memory = await AgentMemory.openOnBus({ bus, inference: new InferenceClient(ipc) });
    try {
      await memory.whenIndexed();
      const [best] = await memory.retrieve('zebra lighthouse greeting', { limit: 3 });
      expect(best?.entry.id).toBe(reflection.memory_id);
    } finally {
      await memory.dispose();
      await bus.dispose();
      await ipc.close();
    }
  });

  it('delivers a delegation to the other agent, which starts a cycle for it (scripted: [e2e-delegate])', async () => {
    const stimulusId = await stimulus('[e2e-delegate] the build is red', 'LeadClaw');
    const leadCycle = await until('LeadClaw to delegate', () =>
      cyclesOf('LeadClaw').find((row) => row.trigger_key === `stimulus:${stimulusId}` && row.phase === 'done'),
    );
    expect(leadCycle).toMatchObject({ decision: 'delegate', outcome: 'delegated' });
    const task = await until('the delegated task', () =>
      rows('task').find((row) => row.stimulus_id === stimulusId && row.reserved_for === 'DevClaw'),
    );
    expect(String(task.description)).toContain('[e2e-delegated]');
    const devCycle = await until('DevClaw to take up the delegated task', () =>
      cyclesOf('DevClaw').find((row) => row.task_id === task.id && row.phase === 'done'),
    );
    expect(devCycle).toMatchObject({ trigger_kind: 'task', decision: 'ignore' });
  });

  it('handles an unscripted stimulus on the real model: a cycle runs to its end with its inference recorded', async () => {
    const stimulusId = await stimulus('Please review the README for unclear wording', 'UXClaw');
    const cycle = await until('UXClaw to end its cycle', () =>
      cyclesOf('UXClaw').find(
        (row) => row.trigger_key === `stimulus:${stimulusId}` && (row.phase === 'done' || row.phase === 'deferred'),
      ),
    );
    const calls = rows('cycle_inference')
      .filter((row) => row.cycle_id === cycle.id)
      .sort((a, b) => Number(a.id) - Number(b.id));
    expect(calls.length, JSON.stringify(cycle)).toBeGreaterThan(0);
    expect(calls[0]).toMatchObject({ agent: 'UXClaw', phase: 'triage', model: 'default' });
    expect(Number(calls[0]?.tokens_in)).toBeGreaterThan(0);
    expect(layer.answered.filter((entry) => entry.prompt.includes('review the README'))).toEqual([]);
    expect(rows('inference_usage').some((row) => row.agent === 'UXClaw')).toBe(true);
    expect(
      await until('UXClaw idle again', () =>
        rows('agent_status').find((row) => row.agent === 'UXClaw' && row.phase === 'idle'),
      ),
    ).toBeTruthy();
  });

  it('SIGKILL mid-act: the lease expires, the task returns, the resumed cycle does not repeat the recorded side effect (scripted: [e2e-kill])', async () => {
    const title = '[e2e-kill] tidy the workspace';
    await admin.callReducer('create_task', {
      title,
      description: 'Tidy up.',
      priority: 5,
      depends_on: [],
      stimulus_id: null,
      reserved_for: 'DevClaw',
    });
    const task = await until('the task', () => rows('task').find((row) => row.title === title));
    const states: string[] = [];
    const sampleState = () => {
      const state = String(rows('task').find((row) => row.id === task.id)?.state);
      if (states.at(-1) !== state) states.push(state);
    };
    const watch = setInterval(sampleState, 10);
    try {
      await killStepWasHeld;
      const cycle = await until('the cycle', () => cyclesOf('DevClaw').find((row) => row.task_id === task.id));
      expect(
        rows('tool_call')
          .filter((row) => row.cycle_id === cycle.id)
          .map((row) => [row.step, row.tool, row.state]),
      ).toEqual([[0, 'message.send', 'succeeded']]);
      const victim = orchestrator.agents?.instance('DevClaw');
      victim?.signal('SIGKILL');
      expect(await victim?.exited).toEqual({ code: null, signal: 'SIGKILL' });

      await until('the task back in the queue', () =>
        rows('task').find((row) => row.id === task.id && row.state === 'queued'),
      );
      killStepAnswered = true;
      const done = await until('the task completed after the restart', () =>
        rows('task').find((row) => row.id === task.id && row.state === 'completed'),
      );
      expect(done).toMatchObject({ owner: 'DevClaw', attempts: 2 });
      // `until` can see the completion before the 10 ms sampler's next tick: take that sample now.
      sampleState();
      expect(states).toEqual(
        ['queued', 'claimed', 'queued', 'claimed', 'completed'].slice(states[0] === 'queued' ? 0 : 1),
      );

      const resumed = await until('the resumed cycle to end', () =>
        cyclesOf('DevClaw').find((row) => row.id === cycle.id && row.phase === 'done'),
      );
      expect(resumed).toMatchObject({ outcome: 'success' });
      const calls = rows('tool_call').filter((row) => row.cycle_id === cycle.id);
      expect(calls.filter((row) => row.step === 0)).toHaveLength(1);
      const sent = rows('message').filter((row) => row.from_agent === 'DevClaw' && row.text === '[e2e-kill] started');
      expect(sent).toHaveLength(1);
      expect(orchestrator.agents?.status().find((entry) => entry.agent === 'DevClaw')).toMatchObject({
        state: 'running',
        restarts: 1,
      });
    } finally {
      clearInterval(watch);
    }
  });
});
