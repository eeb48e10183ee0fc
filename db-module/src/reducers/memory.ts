import { t } from 'spacetimedb';
import type { ReducerContext } from '../context.ts';
import type { MemoryEntryRow } from '../tables.ts';
import { canSeeMessage } from '../visibility.ts';
import { defineReducer } from './define-reducer.ts';
import { LIMITS, reject, requireAgent, requireOneOf, requireRange, requireTask, requireText } from './guards.ts';

export const MEMORY_TIERS = ['short', 'daily', 'long'] as const;
export const MEMORY_SCOPES = ['private', 'shared'] as const;

function requireOwnMemory(ctx: ReducerContext, memoryId: bigint, action: string): MemoryEntryRow {
  const agent = requireAgent(ctx, action);
  const memory = ctx.db.memory_entry.id.find(memoryId);
  // Another agent's private memory is reported as missing: its existence is private too.
  if (memory === null || (memory.agent !== agent.name && memory.scope === 'private')) {
    reject(`Memory ${memoryId} does not exist`);
  }
  if (memory.agent !== agent.name) reject(`Memory ${memoryId} belongs to ${memory.agent}; only it may ${action}`);
  return memory;
}

/**
 * Writes a memory entry for the calling agent, with provenance links. `derived_from` lists the
 * calling agent's own memories this one summarises (compaction from daily to long-term).
 */
export const writeMemory = defineReducer(
  {
    tier: t.string(),
    scope: t.string(),
    importance: t.u8(),
    text: t.string(),
    source_task_id: t.option(t.u64()),
    source_message_id: t.option(t.u64()),
    derived_from: t.array(t.u64()),
  },
  (ctx, { tier, scope, importance, text, source_task_id, source_message_id, derived_from }) => {
    const agent = requireAgent(ctx, 'write memory');
    requireOneOf('tier', tier, MEMORY_TIERS);
    requireOneOf('scope', scope, MEMORY_SCOPES);
    requireRange('importance', importance, 0, LIMITS.maxImportance);
    requireText('text', text, LIMITS.textLength);
    if (source_task_id !== undefined) requireTask(ctx, source_task_id);
    if (source_message_id !== undefined) {
      const source = ctx.db.message.id.find(source_message_id);
      if (source === null || !canSeeMessage({ agentName: agent.name, isAdmin: false }, source)) {
        reject(`Message ${source_message_id} does not exist`);
      }
    }
    if (derived_from.length > LIMITS.maxDerivedFrom) {
      reject(`Expected \`derived_from\` to list at most ${LIMITS.maxDerivedFrom} memories, got ${derived_from.length}`);
    }
    if (new Set(derived_from).size !== derived_from.length) reject('Expected `derived_from` to list each memory once');
    for (const memoryId of derived_from) requireOwnMemory(ctx, memoryId, 'derive from it');
    const memory = ctx.db.memory_entry.insert({
      id: 0n,
      agent: agent.name,
      tier,
      scope,
      importance,
      text,
      created_at: ctx.timestamp,
      updated_at: ctx.timestamp,
    });
    const link = (target_kind: string, target_id: bigint) =>
      ctx.db.memory_link.insert({ id: 0n, memory_id: memory.id, target_kind, target_id });
    if (source_task_id !== undefined) link('task', source_task_id);
    if (source_message_id !== undefined) link('message', source_message_id);
    for (const memoryId of derived_from) link('memory', memoryId);
  },
);

export const updateMemory = defineReducer(
  { memory_id: t.u64(), tier: t.string(), importance: t.u8(), text: t.string() },
  (ctx, { memory_id, tier, importance, text }) => {
    const memory = requireOwnMemory(ctx, memory_id, 'change it');
    requireOneOf('tier', tier, MEMORY_TIERS);
    requireRange('importance', importance, 0, LIMITS.maxImportance);
    requireText('text', text, LIMITS.textLength);
    ctx.db.memory_entry.id.update({ ...memory, tier, importance, text, updated_at: ctx.timestamp });
  },
);

/** Deletes an own memory entry and its provenance links. */
export const deleteMemory = defineReducer({ memory_id: t.u64() }, (ctx, { memory_id }) => {
  requireOwnMemory(ctx, memory_id, 'delete it');
  for (const link of [...ctx.db.memory_link.memory_id.filter(memory_id)]) ctx.db.memory_link.delete(link);
  ctx.db.memory_entry.id.delete(memory_id);
});

/** A reflection is stored twice on purpose: as a public reflection row and as a private daily memory. */
export const recordReflection = defineReducer(
  { task_id: t.option(t.u64()), text: t.string(), importance: t.u8() },
  (ctx, { task_id, text, importance }) => {
    const agent = requireAgent(ctx, 'record reflections');
    requireText('text', text, LIMITS.textLength);
    requireRange('importance', importance, 0, LIMITS.maxImportance);
    if (task_id !== undefined) requireTask(ctx, task_id);
    const memory = ctx.db.memory_entry.insert({
      id: 0n,
      agent: agent.name,
      tier: 'daily',
      scope: 'private',
      importance,
      text,
      created_at: ctx.timestamp,
      updated_at: ctx.timestamp,
    });
    const reflection = ctx.db.reflection.insert({
      id: 0n,
      agent: agent.name,
      task_id,
      text,
      importance,
      memory_id: memory.id,
      created_at: ctx.timestamp,
    });
    ctx.db.memory_link.insert({ id: 0n, memory_id: memory.id, target_kind: 'reflection', target_id: reflection.id });
    if (task_id !== undefined) {
      ctx.db.memory_link.insert({ id: 0n, memory_id: memory.id, target_kind: 'task', target_id: task_id });
    }
  },
);
