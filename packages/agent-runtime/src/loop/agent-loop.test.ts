/**
 * Every branch of the loop, against the real embedded bus (SQLite, IPC socket) with a scripted
 * inference backend: act, delegate, defer, ignore, malformed output (repaired and not), limits,
 * plan approved and rejected, allowlist refusals, hooks, and a cycle resumed after its process died.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineTool, ToolRegistry } from '@clawfleet/agent-tools';
import { createTestToolContext } from '@clawfleet/agent-tools/testing';
import { type AgentDefinition, loadAgent } from '@clawfleet/agents';
import { type BusClient, type BusRow, EmbeddedBusClient } from '@clawfleet/bus-client';
import { BusService, EmbeddedDatabase, identityForName } from '@clawfleet/embedded-bus';
import { IpcServer } from '@clawfleet/ipc';
import { ClawError, silentLogger } from '@clawfleet/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { LoopMemory } from '../ports.ts';
import { type ScriptedAnswer, ScriptedInference, say } from '../testing/scripted-inference.ts';
import { AgentLoop } from './agent-loop.ts';

const TOKEN = 'loop-test-token';
const ADMIN = 'orchestrator';

interface Harness {
  directory: string;
  database: EmbeddedDatabase;
  clock: { offsetMs: number };
  admin: BusClient;
  connect(name: string): Promise<BusClient>;
  /** Rows of a table as the admin sees them, straight from SQLite. */
  rows(table: string): BusRow[];
  dispose(): Promise<void>;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function hostBus(): Promise<Harness> {
  const directory = mkdtempSync(join(tmpdir(), 'claw-loop-'));
  const socketPath = join(directory, 'bus.sock');
  const clock = { offsetMs: 0 };
  const database = EmbeddedDatabase.open({
    path: join(directory, 'bus.sqlite'),
    now: () => Date.now() + clock.offsetMs,
  });
  const server = new IpcServer({ socketPath, authenticate: (_agent, token) => token === TOKEN });
  const service = new BusService({ database, server, identityForName });
  await server.listen();
  const clients: BusClient[] = [];
  const connect = async (name: string) => {
    const client = await EmbeddedBusClient.connect({ socketPath, name, token: TOKEN, reconnect: false });
    clients.push(client);
    return client;
  };
  const admin = await connect(ADMIN);
  for (const name of ['DevClaw', 'UXClaw', 'LeadClaw']) {
    await admin.callReducer('register_agent', { name, identity: identityForName(name), role: 'test' });
  }
  const harness: Harness = {
    directory,
    database,
    clock,
    admin,
    connect,
    rows: (table) => database.query(ADMIN, table),
    async dispose() {
      for (const client of clients) await client.dispose().catch(() => {});
      await server.close({ timeoutMs: 1_000 });
      service.dispose();
      database.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
  cleanups.push(() => harness.dispose());
  return harness;
}

/** Side effects the test tools had, so a test can count them. */
const effects: string[] = [];

const testTools = new ToolRegistry([
  defineTool({
    name: 'notes.write',
    description: 'write a note (a side effect)',
    argsSchema: z.strictObject({ text: z.string().min(1) }),
    sideEffect: true,
    run: async (args) => {
      effects.push(`note:${args.text}`);
      return { output: { written: args.text }, text: `wrote ${args.text}` };
    },
  }),
  defineTool({
    name: 'files.read',
    description: 'read a file',
    argsSchema: z.strictObject({ path: z.string().min(1) }),
    sideEffect: false,
    run: async (args) => ({ output: { path: args.path }, text: `contents of ${args.path}` }),
  }),
  defineTool({
    name: 'cache.purge',
    description: 'purge the cache (risky)',
    argsSchema: z.strictObject({}),
    sideEffect: true,
    needsApproval: true,
    run: async () => {
      effects.push('purged');
      return { output: { purged: true }, text: 'purged' };
    },
  }),
  defineTool({
    name: 'slow.write',
    description: 'a side effect that takes until it is cancelled',
    argsSchema: z.strictObject({}),
    sideEffect: true,
    run: async (_args, context) => {
      effects.push('slow-started');
      await new Promise((_, reject) =>
        context.signal.addEventListener('abort', () => reject(context.signal.reason), { once: true }),
      );
      return { output: null, text: 'never' };
    },
  }),
  defineTool({
    name: 'system.health',
    description: 'not for DevClaw',
    argsSchema: z.strictObject({}),
    sideEffect: false,
    run: async () => ({ output: {}, text: 'fine' }),
  }),
]);

function testAgent(name: string, overrides: Partial<AgentDefinition> = {}): AgentDefinition {
  const base = loadAgent(name === 'UXClaw' || name === 'LeadClaw' ? name : 'DevClaw');
  return {
    ...base,
    name,
    tools: ['notes.write', 'files.read', 'cache.purge', 'slow.write'],
    approvalRequiredFor: [],
    hooks: [],
    reactions: [],
    wakeUp: { stimulusKinds: ['code'], taskTags: ['code'], scheduleSeconds: 0 },
    limits: { stepsPerCycle: 6, tokensPerCycle: 100_000, tokensPerHour: 1_000_000, identicalCalls: 3 },
    ...overrides,
  };
}

const noMemories: LoopMemory = { retrieve: async () => [] };

async function startLoop(
  harness: Harness,
  agent: AgentDefinition,
  inference: ScriptedInference,
  memory: LoopMemory = noMemories,
  extra: { contextTokens?: number; runnerLeaseSeconds?: number } = {},
): Promise<AgentLoop> {
  const client = await harness.connect(agent.name);
  const toolbox = testTools.forAgent(agent.name, agent.tools);
  const loop = new AgentLoop({
    agent,
    bus: client,
    inference,
    memory,
    toolbox,
    toolContext: ({ cycleId, step, taskId, signal, logger }) =>
      createTestToolContext({
        agent: agent.name,
        cycleId,
        step,
        ...(taskId === undefined ? {} : { taskId }),
        signal,
        logger,
        bus: client,
        workspaceDir: join(harness.directory, agent.name),
        sharedDir: harness.directory,
      }),
    logger: silentLogger,
    now: () => Date.now() + harness.clock.offsetMs,
    ...extra,
  });
  await loop.start();
  cleanups.push(() => loop.stop());
  return loop;
}

async function until<T>(what: string, probe: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function stimulus(harness: Harness, text: string, target = 'DevClaw', priority = 5): Promise<void> {
  return harness.admin.callReducer('create_stimulus', {
    source: 'cli',
    kind: 'code',
    text,
    priority,
    target_agent: target,
  });
}

const cycles = (harness: Harness, agent = 'DevClaw') => harness.rows('cycle').filter((row) => row.agent === agent);
const doneCycle = (harness: Harness, agent = 'DevClaw') =>
  until(`a done cycle of ${agent}`, () => cycles(harness, agent).find((row) => row.phase === 'done'));
const toolCalls = (harness: Harness, cycleId: unknown) =>
  harness
    .rows('tool_call')
    .filter((row) => row.cycle_id === cycleId)
    .sort((a, b) => Number(a.step) - Number(b.step));

describe('the agent loop', () => {
  it('acts: triage, tool calls recorded before and after, finish, reflection with provenance', async () => {
    effects.length = 0;
    const harness = await hostBus();
    const memory: LoopMemory = { retrieve: async () => [{ id: 41, text: 'Notes go in the notes folder' }] };
    const inference = new ScriptedInference({
      triage: [{ value: { ...(say.triage('act') as { value: object }).value, cites: ['41'] } }],
      act: [
        say.tool('files.read', { path: 'README.md' }),
        say.tool('notes.write', { text: 'hello' }),
        say.finish('success', 'wrote the note'),
      ],
      reflect: [say.reflection('Wrote the note after reading the README', { tags: ['Notes', 'readme'] })],
    });
    await startLoop(harness, testAgent('DevClaw'), inference, memory);
    await stimulus(harness, 'Please write a hello note');
    const cycle = await doneCycle(harness);

    expect(cycle).toMatchObject({ decision: 'act', outcome: 'success', trigger_kind: 'stimulus', steps: 2 });
    expect(String(cycle.reason)).toContain('memories 41');
    const calls = toolCalls(harness, cycle.id);
    expect(calls.map((call) => [call.step, call.tool, call.state, call.side_effect])).toEqual([
      [0, 'files.read', 'succeeded', false],
      [1, 'notes.write', 'succeeded', true],
    ]);
    expect(calls[1]).toMatchObject({
      idempotency_key: `${cycle.id}:1`,
      result: 'wrote hello',
      args: '{"text":"hello"}',
    });
    expect(String(calls[1]!.result_digest)).toMatch(/^[0-9a-f]{64}$/);
    expect(effects).toEqual(['note:hello']);

    // The prompt was built from the identity files, the stimulus and the retrieved memories.
    const [triageCall] = inference.callsOf('triage');
    expect(triageCall!.prefix).toContain('You are DevClaw');
    expect(triageCall!.prompt).toContain('Please write a hello note');
    expect(triageCall!.prompt).toContain('[41] Notes go in the notes folder');
    expect(inference.calls.map((call) => call.priority)).toEqual(['triage', 'act', 'act', 'act', 'reflect']);
    // The act prompt shows the earlier step's result as the next observation.
    expect(inference.callsOf('act')[1]!.prompt).toContain('contents of README.md');

    const usage = harness.rows('cycle_inference').filter((row) => row.cycle_id === cycle.id);
    expect(usage.map((row) => row.phase)).toEqual(['triage', 'act', 'act', 'act', 'reflect']);
    expect(cycle.tokens).toBe(5 * 120);

    const reflection = await until('a reflection', () =>
      harness.rows('reflection').find((row) => row.agent === 'DevClaw'),
    );
    expect(String(reflection.text)).toContain('Wrote the note after reading the README');
    const memoryEntry = harness.rows('memory_entry').find((row) => row.id === reflection.memory_id)!;
    expect(memoryEntry).toMatchObject({ tier: 'daily', importance: 0.7, tags: ['notes', 'readme'] });
    const links = harness.rows('memory_link').filter((row) => row.memory_id === reflection.memory_id);
    expect(links.map((row) => `${row.target_kind}:${row.target_id}`).sort()).toEqual(
      [
        `cycle:${cycle.id}`,
        `reflection:${reflection.id}`,
        `stimulus:${String(cycle.trigger_key).split(':')[1]}`,
        ...calls.map((call) => `tool_call:${call.id}`),
      ].sort(),
    );
    await until('the agent idle again', () =>
      harness.rows('agent_status').find((row) => row.agent === 'DevClaw' && row.phase === 'idle'),
    );
  });

  it('delegates through reducers: a task reserved for the other agent, which wakes and triages it', async () => {
    const harness = await hostBus();
    const dev = new ScriptedInference({
      triage: [say.triage('delegate', { delegate_to: 'UXClaw', message: 'Review the login page copy' })],
    });
    const ux = new ScriptedInference({ triage: [say.triage('ignore')] });
    await startLoop(harness, testAgent('DevClaw'), dev);
    await startLoop(
      harness,
      testAgent('UXClaw', { wakeUp: { stimulusKinds: [], taskTags: [], scheduleSeconds: 0 } }),
      ux,
    );
    await stimulus(harness, 'The login page copy needs a look');
    const cycle = await doneCycle(harness);
    expect(cycle).toMatchObject({ decision: 'delegate', outcome: 'delegated' });
    const task = harness.rows('task').find((row) => row.reserved_for === 'UXClaw')!;
    expect(String(task.description)).toContain('Review the login page copy');
    expect(toolCalls(harness, cycle.id)).toEqual([expect.objectContaining({ tool: 'delegate', state: 'succeeded' })]);
    const uxCycle = await doneCycle(harness, 'UXClaw');
    expect(uxCycle).toMatchObject({ trigger_kind: 'task', trigger_key: `task:${task.id}:0`, outcome: 'ignored' });
    expect(ux.callsOf('triage')[0]!.prompt).toContain('Review the login page copy');
    // The delegating agent could only name agents that exist.
    expect(
      (dev.callsOf('triage')[0]!.schema.properties as Record<string, { enum?: string[] }>).delegate_to!.enum,
    ).toEqual(['none', 'LeadClaw', 'UXClaw']);
  });

  it('defers: the database wakes the cycle when its time comes, and it is triaged again', async () => {
    const harness = await hostBus();
    const inference = new ScriptedInference({
      triage: [say.triage('defer', { defer_minutes: '5' }), say.triage('ignore')],
    });
    await startLoop(harness, testAgent('DevClaw'), inference);
    await stimulus(harness, 'Check again later');
    const deferred = await until('a deferred cycle', () => cycles(harness).find((row) => row.phase === 'deferred'));
    expect(deferred.decision).toBe('defer');
    expect(inference.callsOf('triage')).toHaveLength(1);
    harness.clock.offsetMs = 5 * 60_000 + 1_000;
    harness.database.runDueSchedules();
    const done = await doneCycle(harness);
    expect(done).toMatchObject({ id: deferred.id, decision: 'ignore', outcome: 'ignored' });
    expect(inference.callsOf('triage')).toHaveLength(2);
  });

  it('ignores: the cycle ends without acting or reflecting', async () => {
    const harness = await hostBus();
    const inference = new ScriptedInference({ triage: [say.triage('ignore', { reason: 'not for me' })] });
    await startLoop(harness, testAgent('DevClaw'), inference);
    await stimulus(harness, 'Irrelevant chatter');
    expect(await doneCycle(harness)).toMatchObject({ decision: 'ignore', outcome: 'ignored', reason: 'not for me' });
    expect(inference.callsOf('act')).toHaveLength(0);
    expect(harness.rows('reflection')).toHaveLength(0);
  });

  it('repairs malformed output once: a truncated answer, then a good one', async () => {
    const harness = await hostBus();
    const inference = new ScriptedInference({
      triage: [{ error: new ClawError('OUTPUT_INVALID', 'Unexpected end of JSON input') }, say.triage('ignore')],
    });
    await startLoop(harness, testAgent('DevClaw'), inference);
    await stimulus(harness, 'Anything');
    expect(await doneCycle(harness)).toMatchObject({ outcome: 'ignored' });
    expect(inference.callsOf('triage')[1]!.prompt).toContain(
      'Your previous answer was invalid: Unexpected end of JSON input',
    );
  });

  it('fails the cycle cleanly, with a reflection saying why, when the repair is malformed too', async () => {
    const harness = await hostBus();
    const inference = new ScriptedInference({
      triage: [
        say.triage('delegate', { delegate_to: 'GhostClaw', message: 'do it' }),
        say.triage('delegate', { delegate_to: 'none', message: 'do it' }),
      ],
    });
    await startLoop(harness, testAgent('DevClaw'), inference);
    await stimulus(harness, 'Anything');
    const cycle = await doneCycle(harness);
    expect(cycle.outcome).toBe('failure');
    expect(String(cycle.outcome_detail)).toContain('malformed twice');
    expect(String(cycle.outcome_detail)).toContain('delegate_to is none');
    expect(inference.callsOf('triage')[1]!.prompt).toContain('GhostClaw, who is not an agent you can delegate to');
    const reflection = harness.rows('reflection').find((row) => row.agent === 'DevClaw')!;
    expect(String(reflection.text)).toContain('malformed twice');
    expect(harness.rows('cycle_inference').map((row) => row.phase)).toEqual(['triage', 'repair']);
    expect(harness.rows('task')).toHaveLength(0);
  });

  it('abandons a cycle whose inference keeps failing (not malformed): at once when retrying cannot help, after three tries otherwise', async () => {
    const harness = await hostBus();
    const inference = new ScriptedInference({
      triage: [
        { error: new ClawError('INVALID_PARAMS', 'Invalid `structured` options at `prompt`: too long') },
        { error: new ClawError('WORKER_CRASHED', 'The inference worker died') },
        { error: new ClawError('WORKER_CRASHED', 'The inference worker died') },
        { error: new ClawError('WORKER_CRASHED', 'The inference worker died') },
      ],
    });
    await startLoop(harness, testAgent('DevClaw'), inference);
    await stimulus(harness, 'First');
    const first = await doneCycle(harness);
    expect(first.outcome).toBe('failure');
    expect(String(first.outcome_detail)).toContain('Gave up after 1 failed attempt: INVALID_PARAMS');
    await stimulus(harness, 'Second');
    const second = await until('the second cycle done', () =>
      cycles(harness).find((row) => row.id !== first.id && row.phase === 'done'),
    );
    expect(String(second.outcome_detail)).toContain('Gave up after 3 failed attempts: WORKER_CRASHED');
    expect(inference.callsOf('triage')).toHaveLength(4);
    expect(harness.rows('attention_request').map((row) => String(row.text))).toEqual([
      expect.stringContaining('gave up on cycle 1'),
      expect.stringContaining('gave up on cycle 2'),
    ]);
    expect(harness.rows('reflection')).toHaveLength(2);
  });

  it('builds prompts that fit the context minus max tokens, even for an 8,000-character stimulus (the most a stimulus holds)', async () => {
    const harness = await hostBus();
    const inference = new ScriptedInference({
      triage: [say.triage('act')],
      act: [say.finish('success', 'done')],
    });
    const contextTokens = 2048;
    const memory: LoopMemory = {
      retrieve: async () => Array.from({ length: 5 }, (_, index) => ({ id: index + 1, text: 'm'.repeat(300) })),
    };
    await startLoop(harness, testAgent('DevClaw'), inference, memory, { contextTokens });
    await stimulus(harness, 'long stimulus 🦀 '.repeat(500).slice(0, 8_000));
    expect(await doneCycle(harness)).toMatchObject({ outcome: 'success' });
    for (const call of inference.calls) {
      const tokensAtMost = Buffer.byteLength(call.prefix + call.prompt, 'utf8') + 1;
      expect(tokensAtMost + call.maxTokens).toBeLessThanOrEqual(contextTokens);
      expect(call.prompt).toContain('<|im_start|>assistant');
    }
    expect(inference.callsOf('triage')[0]!.prompt).toContain('characters omitted]');
    expect(inference.callsOf('triage')[0]!.prompt).toContain('Answer in JSON');
  });

  it('stops at the step limit, reflects on why and raises an attention request', async () => {
    const harness = await hostBus();
    const act: ScriptedAnswer[] = [0, 1, 2].map((index) => say.tool('files.read', { path: `f${index}` }));
    const inference = new ScriptedInference({ triage: [say.triage('act')], act });
    const agent = testAgent('DevClaw', {
      limits: { stepsPerCycle: 3, tokensPerCycle: 100_000, tokensPerHour: 1_000_000, identicalCalls: 3 },
    });
    await startLoop(harness, agent, inference);
    await stimulus(harness, 'Read everything');
    const cycle = await doneCycle(harness);
    expect(cycle).toMatchObject({ outcome: 'failure', steps: 3 });
    expect(String(cycle.outcome_detail)).toContain('limit of 3 steps per cycle reached');
    expect(inference.callsOf('reflect')[0]!.prompt).toContain('limit of 3 steps per cycle reached');
    const attention = await until('an attention request', () => harness.rows('attention_request')[0]);
    expect(attention).toMatchObject({ agent: 'DevClaw', state: 'open' });
    expect(String(attention.text)).toContain('limit of 3 steps per cycle reached');
  });

  it('stops at identical repeated calls and at the token budget of a cycle', async () => {
    const harness = await hostBus();
    const inference = new ScriptedInference({
      triage: [say.triage('act'), say.triage('act')],
      act: [
        say.tool('files.read', { path: 'a' }),
        say.tool('files.read', { path: 'a' }),
        { value: (say.tool('files.read', { path: 'b' }) as { value: object }).value, tokensIn: 5_000 },
      ],
    });
    const agent = testAgent('DevClaw', {
      limits: { stepsPerCycle: 6, tokensPerCycle: 3_000, tokensPerHour: 1_000_000, identicalCalls: 2 },
    });
    await startLoop(harness, agent, inference);
    await stimulus(harness, 'Loop on a');
    const first = await doneCycle(harness);
    expect(String(first.outcome_detail)).toContain('2 identical calls of files.read');
    expect(toolCalls(harness, first.id)).toHaveLength(1);
    await stimulus(harness, 'Spend tokens');
    const second = await until('the second cycle done', () =>
      cycles(harness).find((row) => row.id !== first.id && row.phase === 'done'),
    );
    expect(String(second.outcome_detail)).toContain('3000 tokens per cycle');
  });

  it('refuses a tool off the allowlist and arguments that fail its schema, recorded, and goes on', async () => {
    effects.length = 0;
    const harness = await hostBus();
    const inference = new ScriptedInference({
      triage: [say.triage('act')],
      act: [
        say.tool('system.health'),
        say.tool('notes.write', { words: 'x' }),
        say.tool('notes.write', { text: 'ok' }),
        say.finish('success', 'done'),
      ],
    });
    await startLoop(harness, testAgent('DevClaw'), inference);
    await stimulus(harness, 'Check the system');
    const cycle = await doneCycle(harness);
    expect(toolCalls(harness, cycle.id).map((call) => [call.tool, call.state, call.error_code])).toEqual([
      ['system.health', 'refused', 'TOOL_NOT_ALLOWED'],
      ['notes.write', 'refused', 'TOOL_ARGS_INVALID'],
      ['notes.write', 'succeeded', ''],
    ]);
    expect(effects).toEqual(['note:ok']);
    expect(inference.callsOf('act')[1]!.prompt).toContain('TOOL_NOT_ALLOWED');
  });

  it('waits for plan approval before a tool that needs it, then acts', async () => {
    effects.length = 0;
    const harness = await hostBus();
    const inference = new ScriptedInference({
      triage: [say.triage('act')],
      act: [say.tool('cache.purge'), say.tool('cache.purge'), say.finish('success', 'purged')],
    });
    await startLoop(harness, testAgent('DevClaw'), inference);
    await stimulus(harness, 'Purge the cache');
    const plan = await until('a pending plan', () => harness.rows('plan').find((row) => row.state === 'pending'));
    expect(String(plan.text)).toContain('cache.purge');
    expect(cycles(harness)[0]!.phase).toBe('awaiting_approval');
    expect(effects).toEqual([]);
    // LeadClaw, granted approval by the admin, approves through the reducer.
    await harness.admin.callReducer('set_plan_approver', { agent: 'LeadClaw', allowed: true });
    const lead = await harness.connect('LeadClaw');
    await lead.callReducer('decide_plan', { plan_id: plan.id as number, approve: true, reason: 'fine' });
    const cycle = await doneCycle(harness);
    expect(cycle.outcome).toBe('success');
    expect(effects).toEqual(['purged']);
  });

  it('ends the cycle without acting when the plan is rejected', async () => {
    effects.length = 0;
    const harness = await hostBus();
    const inference = new ScriptedInference({ triage: [say.triage('act')], act: [say.tool('cache.purge')] });
    await startLoop(harness, testAgent('DevClaw'), inference);
    await stimulus(harness, 'Purge the cache');
    const plan = await until('a pending plan', () => harness.rows('plan').find((row) => row.state === 'pending'));
    await harness.admin.callReducer('decide_plan', {
      plan_id: plan.id as number,
      approve: false,
      reason: 'not during the demo',
    });
    const cycle = await doneCycle(harness);
    expect(cycle.outcome).toBe('failure');
    expect(String(cycle.outcome_detail)).toContain('not during the demo');
    expect(effects).toEqual([]);
    expect(inference.callsOf('reflect')[0]!.prompt).toContain('rejected by admin');
  });

  it('claims a task it may take, and a completion hook sends the work back until it passes', async () => {
    const harness = await hostBus();
    const inference = new ScriptedInference({
      triage: [say.triage('act')],
      act: [say.finish('success', 'changed the parser'), say.finish('success', 'changed the parser and ran the tests')],
    });
    const agent = testAgent('DevClaw', {
      hooks: [
        {
          name: 'tests-mentioned',
          on: 'task_completed',
          check: { kind: 'result', pattern: '\\btests?\\b', message: 'Say which tests you ran' },
        },
      ],
    });
    await startLoop(harness, agent, inference);
    await harness.admin.callReducer('create_task', {
      title: 'Fix the parser #code',
      description: '',
      priority: 4,
      depends_on: [],
    });
    const cycle = await doneCycle(harness);
    expect(cycle).toMatchObject({ trigger_kind: 'task', outcome: 'success' });
    const task = harness.rows('task')[0]!;
    expect(task).toMatchObject({
      state: 'completed',
      owner: 'DevClaw',
      result: 'changed the parser and ran the tests',
    });
    expect(harness.rows('hook_run').map((row) => [row.hook, row.verdict])).toEqual([
      ['tests-mentioned', 'reject'],
      ['tests-mentioned', 'pass'],
    ]);
    expect(inference.callsOf('act')[1]!.prompt).toContain('Say which tests you ran');
  });

  it('resumes a task whose lease expired while it was down: claims it again and does not repeat the side effect', async () => {
    effects.length = 0;
    const harness = await hostBus();
    const first = new ScriptedInference({
      triage: [say.triage('act')],
      act: [say.tool('notes.write', { text: 'patch' }), { hang: true }],
    });
    const loop = await startLoop(harness, testAgent('DevClaw'), first);
    await harness.admin.callReducer('create_task', {
      title: 'Patch it #code',
      description: '',
      priority: 4,
      depends_on: [],
    });
    await until('the side effect', () => effects.includes('note:patch'));
    await until('the next act call', () => first.callsOf('act').length === 2);
    await loop.stop();
    // While the agent is down its lease runs out and the task goes back to the queue.
    harness.clock.offsetMs = 301_000;
    harness.database.runDueSchedules();
    expect(harness.rows('task')[0]).toMatchObject({ state: 'queued', owner: null, attempts: 1 });

    const second = new ScriptedInference({
      act: [say.tool('notes.write', { text: 'patch' }), say.finish('success', 'patched; ran the tests')],
    });
    await startLoop(harness, testAgent('DevClaw'), second);
    const done = await doneCycle(harness);
    expect(done).toMatchObject({ trigger_kind: 'task', outcome: 'success' });
    expect(harness.rows('task')[0]).toMatchObject({ state: 'completed', owner: 'DevClaw', attempts: 2 });
    expect(effects.filter((effect) => effect === 'note:patch')).toHaveLength(1);
    expect(toolCalls(harness, done.id).map((call) => [call.tool, call.state])).toEqual([
      ['notes.write', 'succeeded'],
      ['notes.write', 'refused'],
    ]);
    // One cycle for the task: the requeued task did not start a second one.
    expect(cycles(harness)).toHaveLength(1);
  });

  it('ends a resumed cycle whose task another agent took while it was down', async () => {
    const harness = await hostBus();
    const first = new ScriptedInference({ triage: [say.triage('act')], act: [{ hang: true }] });
    const loop = await startLoop(harness, testAgent('DevClaw'), first);
    await harness.admin.callReducer('create_task', {
      title: 'Patch it #code',
      description: '',
      priority: 4,
      depends_on: [],
    });
    await until('the act call', () => first.callsOf('act').length === 1);
    await loop.stop();
    harness.clock.offsetMs = 301_000;
    harness.database.runDueSchedules();
    const ux = await harness.connect('UXClaw');
    await ux.callReducer('claim_task', { task_id: harness.rows('task')[0]!.id as number, lease_seconds: 600 });

    const second = new ScriptedInference({});
    await startLoop(harness, testAgent('DevClaw'), second);
    const done = await doneCycle(harness);
    expect(done.outcome).toBe('failure');
    expect(String(done.outcome_detail)).toContain('owner UXClaw');
    expect(second.calls).toHaveLength(0);
    expect(harness.rows('task')[0]).toMatchObject({ state: 'claimed', owner: 'UXClaw' });
  });

  it('publishes its reactions at start, and withdraws one its folder no longer lists', async () => {
    const harness = await hostBus();
    const withReaction = testAgent('LeadClaw', { reactions: [{ event: 'task_failed', priority: 7 }] });
    const first = await startLoop(harness, withReaction, new ScriptedInference());
    expect(harness.rows('reaction_rule').map((row) => [row.agent, row.event, row.priority])).toEqual([
      ['LeadClaw', 'task_failed', 7],
    ]);
    await first.stop();
    await startLoop(harness, testAgent('LeadClaw', { reactions: [] }), new ScriptedInference());
    expect(harness.rows('reaction_rule')).toEqual([]);
  });

  it('runs its idle hooks when its queue empties after work, recording each run', async () => {
    const harness = await hostBus();
    const agent = testAgent('DevClaw', {
      hooks: [
        { name: 'idle-check', on: 'agent_idle', check: { kind: 'tool', tool: 'files.read', args: { path: 'STATUS' } } },
      ],
    });
    await startLoop(harness, agent, new ScriptedInference({ triage: [say.triage('ignore')] }));
    expect(harness.rows('hook_run')).toEqual([]);
    await stimulus(harness, 'Anything');
    const run = await until('an idle hook run', () => harness.rows('hook_run')[0]);
    expect(run).toMatchObject({
      hook: 'idle-check',
      event: 'agent_idle',
      verdict: 'pass',
      reason: 'contents of STATUS',
    });
  });

  it('runs one loop per agent: a second instance of the agent is refused at start and never takes the first one’s cycle (Q-074)', async () => {
    effects.length = 0;
    const harness = await hostBus();
    const script = () =>
      new ScriptedInference({
        triage: [say.triage('act')],
        act: [say.tool('notes.write', { text: 'only once' }), say.finish('success', 'wrote it')],
        reflect: [say.reflection('Wrote it once')],
      });
    const first = script();
    const second = script();
    await startLoop(harness, testAgent('DevClaw'), first, noMemories, { runnerLeaseSeconds: 2 });
    // The cycle benchmark drove a loop of DevClaw next to the orchestrator's own DevClaw process:
    // both took every trigger, and the slower one's record_triage was refused for a cycle the other
    // had already moved to acting (REDUCER_REJECTED), which then abandoned it.
    const refused = await startLoop(harness, testAgent('DevClaw'), second, noMemories, {
      runnerLeaseSeconds: 2,
    }).then(
      () => undefined,
      (error: unknown) => error,
    );
    await stimulus(harness, 'Write a note, once');
    const cycle = await doneCycle(harness);
    expect(cycle).toMatchObject({ decision: 'act', outcome: 'success', steps: 1 });
    expect(effects).toEqual(['note:only once']);
    expect(toolCalls(harness, cycle.id).map((call) => [call.tool, call.state])).toEqual([['notes.write', 'succeeded']]);
    expect(second.calls).toHaveLength(0);
    expect(first.calls.map((call) => call.priority)).toEqual(['triage', 'act', 'act', 'reflect']);
    expect(harness.rows('attention_request')).toEqual([]);
    expect(refused).toBeInstanceOf(ClawError);
    expect((refused as ClawError).code).toBe('CONFLICT');
    expect((refused as ClawError).message).toMatch(/DevClaw is already running/);
  });

  it('hands the runner over when a loop stops, so a restarted agent need not wait for the lease', async () => {
    const harness = await hostBus();
    const loop = await startLoop(harness, testAgent('DevClaw'), new ScriptedInference({}), noMemories, {
      runnerLeaseSeconds: 600,
    });
    const session = harness.rows('agent_runner')[0]!.session;
    await loop.stop();
    expect(harness.rows('agent_runner')).toEqual([]);
    await startLoop(harness, testAgent('DevClaw'), new ScriptedInference({}), noMemories, { runnerLeaseSeconds: 600 });
    expect(harness.rows('agent_runner').map((row) => row.session)).not.toContain(session);
    expect(harness.rows('agent_runner')).toHaveLength(1);
  });

  it('resumes after its process died: a recorded side effect is not repeated, an unfinished call is marked interrupted', async () => {
    effects.length = 0;
    const harness = await hostBus();
    const first = new ScriptedInference({
      triage: [say.triage('act')],
      act: [say.tool('notes.write', { text: 'once' }), say.tool('slow.write')],
    });
    const loop = await startLoop(harness, testAgent('DevClaw'), first);
    await stimulus(harness, 'Write once');
    await until('the slow call started', () => effects.includes('slow-started'));
    await loop.stop(); // the process dies mid-call: nothing more is written for this cycle
    const [cycle] = cycles(harness);
    expect(cycle!.phase).toBe('acting');
    expect(toolCalls(harness, cycle!.id).map((call) => call.state)).toEqual(['succeeded', 'started']);

    const second = new ScriptedInference({
      act: [say.tool('notes.write', { text: 'once' }), say.finish('success', 'wrote it')],
    });
    await startLoop(harness, testAgent('DevClaw'), second);
    const done = await doneCycle(harness);
    expect(done.id).toBe(cycle!.id);
    expect(effects.filter((effect) => effect === 'note:once')).toHaveLength(1);
    expect(toolCalls(harness, cycle!.id).map((call) => [call.tool, call.state, call.error_code])).toEqual([
      ['notes.write', 'succeeded', ''],
      ['slow.write', 'interrupted', 'INTERRUPTED'],
      ['notes.write', 'refused', 'ALREADY_DONE'],
    ]);
    // The resumed cycle saw what had happened before it died.
    expect(second.callsOf('act')[0]!.prompt).toContain('wrote once');
    expect(second.callsOf('triage')).toHaveLength(0);
  });
});
