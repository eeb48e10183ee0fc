import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BusClient, EmbeddedBusClient } from '@clawfleet/bus-client';
import { BusService, EmbeddedDatabase, identityForName } from '@clawfleet/embedded-bus';
import { IpcServer } from '@clawfleet/ipc';
import { rejectionOf } from '@clawfleet/protocol/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestToolContext } from '../testing/index.ts';
import { ToolRegistry } from '../tool-registry.ts';
import { createBusTools } from './bus-tools.ts';

const TOKEN = 'bus-tools-token';
const directory = mkdtempSync(join(tmpdir(), 'claw-bus-tools-'));
const socketPath = join(directory, 'bus.sock');
const database = EmbeddedDatabase.open({ path: join(directory, 'bus.sqlite') });
const server = new IpcServer({ socketPath, authenticate: (_agent, token) => token === TOKEN });
const service = new BusService({ database, server, identityForName });
const clients: BusClient[] = [];
let admin: BusClient;
let dev: BusClient;
let lead: BusClient;

const registry = new ToolRegistry(createBusTools());
const connect = async (name: string) => {
  const client = await EmbeddedBusClient.connect({ socketPath, name, token: TOKEN });
  clients.push(client);
  return client;
};

beforeAll(async () => {
  await server.listen();
  admin = await connect('orchestrator');
  for (const name of ['LeadClaw', 'DevClaw']) {
    await admin.callReducer('register_agent', { name, identity: identityForName(name), role: 'test' });
  }
  dev = await connect('DevClaw');
  lead = await connect('LeadClaw');
  for (const client of [admin, dev, lead])
    await client.subscribe(['SELECT * FROM task', 'SELECT * FROM attention_request']).ready;
});
afterAll(async () => {
  for (const client of clients) await client.dispose();
  await server.close({ timeoutMs: 1_000 });
  service.dispose();
  database.close();
  rmSync(directory, { recursive: true, force: true });
});

function contextFor(bus: BusClient, agent: string, taskId?: number) {
  return createTestToolContext({
    sharedDir: directory,
    workspaceDir: directory,
    bus,
    agent,
    ...(taskId === undefined ? {} : { taskId }),
  });
}

const tasks = () =>
  admin.rows('task') as unknown as {
    id: number;
    title: string;
    state: string;
    owner: string | null;
    reserved_for: string | null;
    result: string | null;
  }[];

describe('bus tools', () => {
  it('task.create makes tasks with dependencies and a reservation, reporting the new id', async () => {
    const leadTools = registry.forAgent('LeadClaw', ['task.create']);
    const first = await leadTools.run('task.create', { title: 'Write the parser' }, contextFor(lead, 'LeadClaw'));
    const firstId = (first.output as { taskId: number }).taskId;
    expect(tasks().find((task) => task.id === firstId)).toMatchObject({ title: 'Write the parser', state: 'queued' });
    const second = await leadTools.run(
      'task.create',
      { title: 'Review the parser', dependsOn: [firstId], reservedFor: 'DevClaw', priority: 7 },
      contextFor(lead, 'LeadClaw'),
    );
    const secondId = (second.output as { taskId: number }).taskId;
    expect(tasks().find((task) => task.id === secondId)).toMatchObject({ state: 'blocked', reserved_for: 'DevClaw' });
    const missing = await rejectionOf(
      leadTools.run('task.create', { title: 'x', dependsOn: [999_999] }, contextFor(lead, 'LeadClaw')),
    );
    expect(missing.code).toBe('REDUCER_REJECTED');
  });

  it('completes only a task the agent holds: the database refuses the rest', async () => {
    await admin.callReducer('create_task', {
      title: 'Fix the bug',
      description: '',
      priority: 5,
      depends_on: [],
      stimulus_id: null,
      reserved_for: null,
    });
    const task = tasks().find((row) => row.title === 'Fix the bug');
    if (task === undefined) throw new Error('task missing');
    await dev.callReducer('claim_task', { task_id: task.id, lease_seconds: 60 });
    const leadTools = registry.forAgent('LeadClaw', ['task.complete']);
    const stolen = await rejectionOf(
      leadTools.run('task.complete', { taskId: task.id, result: 'mine now' }, contextFor(lead, 'LeadClaw')),
    );
    expect(stolen.code).toBe('REDUCER_REJECTED');
    expect(stolen.message).toContain('owned by DevClaw');
    const devTools = registry.forAgent('DevClaw', ['task.complete', 'task.fail', 'task.hand_off']);
    await devTools.run('task.complete', { result: 'fixed' }, contextFor(dev, 'DevClaw', task.id));
    expect(tasks().find((row) => row.id === task.id)).toMatchObject({ state: 'completed', result: 'fixed' });
    const noTask = await rejectionOf(devTools.run('task.fail', { reason: 'x' }, contextFor(dev, 'DevClaw')));
    expect(noTask.code).toBe('TOOL_ARGS_INVALID');
  });

  it('task.hand_off requeues the task reserved for the other agent', async () => {
    await admin.callReducer('create_task', {
      title: 'Hand me on',
      description: '',
      priority: 5,
      depends_on: [],
      stimulus_id: null,
      reserved_for: null,
    });
    const task = tasks().find((row) => row.title === 'Hand me on');
    if (task === undefined) throw new Error('task missing');
    await dev.callReducer('claim_task', { task_id: task.id, lease_seconds: 60 });
    const devTools = registry.forAgent('DevClaw', ['task.hand_off']);
    await devTools.run(
      'task.hand_off',
      { to: 'LeadClaw', note: 'needs a decision' },
      contextFor(dev, 'DevClaw', task.id),
    );
    expect(tasks().find((row) => row.id === task.id)).toMatchObject({
      state: 'queued',
      reserved_for: 'LeadClaw',
      owner: null,
    });
  });

  it('message.send refuses an unknown recipient and sends a broadcast with mentions', async () => {
    const tools = registry.forAgent('DevClaw', ['message.send']);
    const unknown = await rejectionOf(
      tools.run('message.send', { to: 'Nobody', text: 'hi' }, contextFor(dev, 'DevClaw')),
    );
    expect(unknown.code).toBe('REDUCER_REJECTED');
    const sent = await tools.run('message.send', { text: 'done, @LeadClaw' }, contextFor(dev, 'DevClaw'));
    expect(sent.output).toMatchObject({ kind: 'broadcast', mentions: ['LeadClaw'] });
  });

  it('attention.request opens a request with the default action', async () => {
    const tools = registry.forAgent('DevClaw', ['attention.request']);
    await tools.run(
      'attention.request',
      { text: 'disk almost full', priority: 8, defaultAction: 'keep going' },
      contextFor(dev, 'DevClaw'),
    );
    expect(admin.rows('attention_request')).toContainEqual(
      expect.objectContaining({
        agent: 'DevClaw',
        text: 'disk almost full',
        state: 'open',
        default_action: 'keep going',
        priority: 8,
      }),
    );
  });

  it('plan.submit parks the cycle awaiting approval; plan.decide by an approver decides it, never its own', async () => {
    for (const client of [admin, dev, lead])
      await client.subscribe(['SELECT * FROM plan', 'SELECT * FROM cycle']).ready;
    await dev.reducers.beginCycle({
      trigger_kind: 'stimulus',
      trigger_key: 'stimulus:77',
      trigger_text: 'risky work',
      task_id: null,
      priority: 5,
    });
    const cycle = admin.rows('cycle').find((row) => row.trigger_key === 'stimulus:77');
    if (cycle === undefined) throw new Error('cycle missing');
    await dev.reducers.recordTriage({
      cycle_id: cycle.id,
      decision: 'act',
      priority: 5,
      reason: 'go',
      defer_seconds: 0,
    });
    const devTools = registry.forAgent('DevClaw', ['plan.submit', 'plan.decide']);
    const devContext = { ...contextFor(dev, 'DevClaw'), cycleId: Number(cycle.id) };
    const submitted = await devTools.run(
      'plan.submit',
      { text: 'Run the migration', tools: ['command.run'] },
      devContext,
    );
    const planId = (submitted.output as { planId: number }).planId;
    expect(admin.rows('plan').find((row) => row.id === planId)).toMatchObject({ state: 'pending', agent: 'DevClaw' });
    expect(admin.rows('cycle').find((row) => row.id === cycle.id)?.phase).toBe('awaiting_approval');
    const own = await rejectionOf(devTools.run('plan.decide', { planId, approve: true, reason: 'mine' }, devContext));
    expect(own.code).toBe('REDUCER_REJECTED');
    await admin.reducers.setPlanApprover({ agent: 'LeadClaw', allowed: true });
    const leadTools = registry.forAgent('LeadClaw', ['plan.decide']);
    await leadTools.run(
      'plan.decide',
      { planId, approve: false, reason: 'not during the release' },
      contextFor(lead, 'LeadClaw'),
    );
    expect(admin.rows('plan').find((row) => row.id === planId)).toMatchObject({
      state: 'rejected',
      decided_by: 'LeadClaw',
      decision_reason: 'not during the release',
    });
  });
});
