import { EmbeddedDatabase, identityForName } from '@clawfleet/embedded-bus';
import type { ProvenanceNode } from '@clawfleet/protocol';
import { rejectionOf } from '@clawfleet/protocol/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { provenanceOf } from './provenance-tree.ts';

const ADMIN = 'orchestrator';
const databases: EmbeddedDatabase[] = [];
afterEach(() => {
  for (const database of databases.splice(0)) database.close();
});

function all(node: ProvenanceNode): ProvenanceNode[] {
  return [node, ...node.children.flatMap(all)];
}

/** DevClaw acts on a task from a stimulus: a cycle with a tool call, then a reflection and a note. */
function fleet() {
  const database = EmbeddedDatabase.open({ path: ':memory:', adminName: ADMIN });
  databases.push(database);
  database.callReducer(ADMIN, 'register_agent', {
    name: 'DevClaw',
    identity: identityForName('DevClaw'),
    role: 'code',
  });
  const last = (table: string) => Number(database.query(ADMIN, table).at(-1)?.id);
  database.callReducer(ADMIN, 'create_stimulus', { source: 'cli', kind: 'message', text: 'Fix CI', priority: 5 });
  const stimulusId = last('stimulus');
  database.callReducer(ADMIN, 'create_task', {
    title: 'Fix CI',
    description: '',
    priority: 5,
    depends_on: [],
    stimulus_id: stimulusId,
  });
  const taskId = last('task');
  database.callReducer('DevClaw', 'claim_task', { task_id: taskId, lease_seconds: 60 });
  database.callReducer('DevClaw', 'begin_cycle', {
    trigger_kind: 'task',
    trigger_key: `task:${taskId}:1`,
    trigger_text: 'Fix CI',
    task_id: taskId,
    priority: 5,
  });
  const cycleId = last('cycle');
  database.callReducer('DevClaw', 'record_triage', {
    cycle_id: cycleId,
    decision: 'act',
    priority: 5,
    reason: 'mine',
    defer_seconds: 0,
  });
  database.callReducer('DevClaw', 'begin_tool_call', {
    cycle_id: cycleId,
    step: 1,
    tool: 'files.read',
    args: '{"path":"ci.yml"}',
    side_effect: false,
  });
  const toolCallId = last('tool_call');
  database.callReducer('DevClaw', 'record_reflection', {
    task_id: taskId,
    text: 'CI needs a warm cache',
    importance: 0.6,
    tags: [],
    links: [
      { kind: 'cycle', id: cycleId },
      { kind: 'tool_call', id: toolCallId },
    ],
  });
  const reflectionMemory = Number(database.query(ADMIN, 'reflection').at(-1)?.memory_id);
  return { database, stimulusId, taskId, cycleId, toolCallId, reflectionMemory };
}

describe('provenanceOf', () => {
  it('walks a reflection memory to its cycle, the task and stimulus that started it, and its tool call', () => {
    const { database, stimulusId, taskId, cycleId, toolCallId, reflectionMemory } = fleet();
    const root = provenanceOf(database, ADMIN, reflectionMemory);
    expect(root).toMatchObject({ kind: 'memory', id: reflectionMemory, fields: { agent: 'DevClaw', tier: 'daily' } });
    expect(root.children.map((node) => node.kind)).toEqual(['reflection', 'cycle', 'task', 'tool_call']);
    // The reflection comes first and shows its task, with the stimulus the task came from.
    const [reflection, cycle] = root.children;
    expect(reflection!.children).toEqual([expect.objectContaining({ kind: 'task', id: taskId })]);
    expect(reflection!.children[0]!.children).toEqual([
      expect.objectContaining({ kind: 'stimulus', id: stimulusId, fields: expect.objectContaining({ source: 'cli' }) }),
    ]);
    expect(cycle).toMatchObject({ id: cycleId, fields: { decision: 'act', trigger: `task:${taskId}:1` } });
    // The cycle's trigger (the same task, shown above), then its tool call.
    expect(cycle!.children.map((node) => [node.kind, node.id, node.repeated ?? false])).toEqual([
      ['task', taskId, true],
      ['tool_call', toolCallId, false],
    ]);
    // Reached again through the memory's own links: marked, not expanded twice.
    expect(root.children[2]).toMatchObject({ kind: 'task', repeated: true, children: [] });
    expect(root.children[3]).toMatchObject({ kind: 'tool_call', repeated: true });
    expect(all(root).filter((node) => node.kind === 'stimulus')).toHaveLength(1);
  });

  it('marks a linked row that no longer exists as missing', () => {
    const { database, reflectionMemory } = fleet();
    database.callReducer('DevClaw', 'write_memory', {
      tier: 'short',
      scope: 'private',
      importance: 0.1,
      text: 'see the other note',
      tags: [],
      links: [{ kind: 'memory', id: reflectionMemory }],
    });
    const noteId = Number(database.query(ADMIN, 'memory_entry').at(-1)?.id);
    database.callReducer('DevClaw', 'delete_memory', { memory_id: reflectionMemory });
    const root = provenanceOf(database, ADMIN, noteId);
    expect(root.children).toEqual([expect.objectContaining({ kind: 'memory', id: reflectionMemory, missing: true })]);
  });

  it('refuses an entry that does not exist', async () => {
    const { database } = fleet();
    const refused = await rejectionOf(Promise.resolve().then(() => provenanceOf(database, ADMIN, 999)));
    expect(refused).toMatchObject({ code: 'NOT_FOUND', message: 'Memory entry 999 does not exist' });
  });
});
