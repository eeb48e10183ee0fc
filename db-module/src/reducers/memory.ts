/**
 * Memory reducers: the only way memory rows change, on both hosts. Invariants they keep:
 * - An agent writes, changes, shares and compacts only its own memory; another agent's private
 *   memory is reported as missing (its existence is private too). Reading is filtered by the
 *   `visible_memory*` views (src/visibility.ts).
 * - `created_at` is the transaction's time for every agent write: agents cannot backdate. Only an
 *   admin importing memories (`import_memory`) gives an earlier time, never a future one.
 * - Compaction never deletes: a run claims its sources, and completing it writes the long-term
 *   entries, links each to every source it summarises and archives the sources in one transaction.
 */
import { t } from 'spacetimedb';
import type { ReducerContext } from '../context.ts';
import type { MemoryCompactionRow, MemoryEntryRow } from '../tables.ts';
import { canSeeMemory, canSeeMessage } from '../visibility.ts';
import { defineReducer } from './define-reducer.ts';
import {
  LIMITS,
  reject,
  requireAdmin,
  requireAgent,
  requireNumberInRange,
  requireOneOf,
  requireRegisteredAgentName,
  requireTask,
  requireText,
} from './guards.ts';

export const MEMORY_TIERS = ['short', 'daily', 'long'] as const;
export type MemoryTier = (typeof MEMORY_TIERS)[number];
export const MEMORY_SCOPES = ['private', 'shared'] as const;
export type MemoryScope = (typeof MEMORY_SCOPES)[number];
/** What a provenance link may point at. */
export const MEMORY_LINK_KINDS = [
  'task',
  'message',
  'stimulus',
  'reflection',
  'memory',
  'cycle',
  'tool_call',
  'inference_usage',
] as const;
export type MemoryLinkKind = (typeof MEMORY_LINK_KINDS)[number];
export const MEMORY_COMPACTION_STATES = ['open', 'done', 'abandoned'] as const;

const TAG_PATTERN = /^[a-z0-9][a-z0-9_.:/-]*$/;

/** A provenance link as reducers take it: `{ kind: 'task', id: 12 }`. */
export const memoryLinkInput = t.object('MemoryLinkInput', { kind: t.string(), id: t.u64() });
/** One long-term entry written by `complete_memory_compaction`, with the sources it summarises. */
export const compactedEntryInput = t.object('CompactedEntryInput', {
  text: t.string(),
  importance: t.f64(),
  tags: t.array(t.string()),
  source_ids: t.array(t.u64()),
});

interface LinkInput {
  kind: string;
  id: bigint;
}

function requireTags(tags: string[]): string[] {
  if (tags.length > LIMITS.maxTags)
    reject(`Expected \`tags\` to list at most ${LIMITS.maxTags} tags, got ${tags.length}`);
  for (const tag of tags) {
    if (tag.length > LIMITS.tagLength || !TAG_PATTERN.test(tag)) {
      reject(
        `Expected each tag to be 1-${LIMITS.tagLength} lowercase letters, digits or _.:/- starting with a letter or digit, got \`${tag.slice(0, 40)}\``,
      );
    }
  }
  if (new Set(tags).size !== tags.length) reject('Expected `tags` to list each tag once');
  return tags;
}

function requireImportance(importance: number): number {
  return requireNumberInRange('importance', importance, 0, 1);
}

/** The memory with this id as `agentName` may see it, or a rejection that does not reveal a private one. */
function requireVisibleMemory(ctx: ReducerContext, agentName: string, memoryId: bigint): MemoryEntryRow {
  const memory = ctx.db.memory_entry.id.find(memoryId);
  if (memory === null || !canSeeMemory({ agentName, isAdmin: false }, memory)) {
    reject(`Memory ${memoryId} does not exist`);
  }
  return memory;
}

/** The caller's own memory entry that it may change: not archived, not held by an open compaction run. */
function requireOwnChangeableMemory(ctx: ReducerContext, memoryId: bigint, action: string): MemoryEntryRow {
  const agent = requireAgent(ctx, action);
  const memory = requireVisibleMemory(ctx, agent.name, memoryId);
  if (memory.agent !== agent.name) reject(`Memory ${memoryId} belongs to ${memory.agent}; only it may ${action}`);
  if (memory.archived) reject(`Memory ${memoryId} is archived (compacted into long-term memory); it cannot change`);
  if (memory.compaction_id !== undefined) {
    const run = ctx.db.memory_compaction.id.find(memory.compaction_id);
    if (run !== null && run.state === 'open') {
      reject(`Memory ${memoryId} is being compacted (run ${run.id}); it cannot change until the run ends`);
    }
  }
  return memory;
}

/**
 * Checks links before anything is written. Agents may only point at things that exist and that they
 * may see; an admin import (`historic`) keeps links to things of another install as they were, except
 * memory links, which must name memories of the same agent already imported.
 */
function requireLinks(ctx: ReducerContext, agentName: string, links: LinkInput[], historic: boolean): void {
  if (links.length > LIMITS.maxMemoryLinks) {
    reject(`Expected \`links\` to list at most ${LIMITS.maxMemoryLinks} links, got ${links.length}`);
  }
  const seen = new Set<string>();
  for (const link of links) {
    requireOneOf('links[].kind', link.kind, MEMORY_LINK_KINDS);
    const key = `${link.kind}:${link.id}`;
    if (seen.has(key)) reject(`Expected \`links\` to list each link once, got ${key} twice`);
    seen.add(key);
    if (link.kind === 'memory') {
      const memory = requireVisibleMemory(ctx, agentName, link.id);
      if (historic && memory.agent !== agentName)
        reject(`Memory ${link.id} belongs to ${memory.agent}, not ${agentName}`);
      continue;
    }
    if (historic) continue;
    switch (link.kind) {
      case 'task':
        requireTask(ctx, link.id);
        break;
      case 'message': {
        const message = ctx.db.message.id.find(link.id);
        if (message === null || !canSeeMessage({ agentName, isAdmin: false }, message)) {
          reject(`Message ${link.id} does not exist`);
        }
        break;
      }
      case 'stimulus':
        if (ctx.db.stimulus.id.find(link.id) === null) reject(`Stimulus ${link.id} does not exist`);
        break;
      case 'reflection': {
        const reflection = ctx.db.reflection.id.find(link.id);
        if (reflection === null || reflection.agent !== agentName) reject(`Reflection ${link.id} does not exist`);
        break;
      }
      case 'cycle': {
        const cycle = ctx.db.cycle.id.find(link.id);
        if (cycle === null || cycle.agent !== agentName) reject(`Cycle ${link.id} does not exist`);
        break;
      }
      case 'tool_call': {
        const call = ctx.db.tool_call.id.find(link.id);
        if (call === null || call.agent !== agentName) reject(`Tool call ${link.id} does not exist`);
        break;
      }
      // inference_usage: accounting rows have no index by id; kept as given.
    }
  }
}

function insertLinks(ctx: ReducerContext, memoryId: bigint, links: LinkInput[]): void {
  for (const link of links) {
    ctx.db.memory_link.insert({ id: 0n, memory_id: memoryId, target_kind: link.kind, target_id: link.id });
  }
}

/**
 * Writes a memory entry for the calling agent with its provenance links. `created_at` is now:
 * agents cannot backdate.
 */
export const writeMemory = defineReducer(
  {
    tier: t.string(),
    scope: t.string(),
    importance: t.f64(),
    text: t.string(),
    tags: t.array(t.string()),
    links: t.array(memoryLinkInput),
  },
  (ctx, { tier, scope, importance, text, tags, links }) => {
    const agent = requireAgent(ctx, 'write memory');
    requireOneOf('tier', tier, MEMORY_TIERS);
    requireOneOf('scope', scope, MEMORY_SCOPES);
    requireImportance(importance);
    requireText('text', text, LIMITS.textLength);
    requireTags(tags);
    requireLinks(ctx, agent.name, links, false);
    const memory = ctx.db.memory_entry.insert({
      id: 0n,
      agent: agent.name,
      tier,
      scope,
      importance,
      text,
      tags,
      archived: false,
      compaction_id: undefined,
      created_at: ctx.timestamp,
      updated_at: ctx.timestamp,
    });
    insertLinks(ctx, memory.id, links);
  },
);

/** Changes an own entry's tier, importance, text and tags (not archived, not being compacted). */
export const updateMemory = defineReducer(
  { memory_id: t.u64(), tier: t.string(), importance: t.f64(), text: t.string(), tags: t.array(t.string()) },
  (ctx, { memory_id, tier, importance, text, tags }) => {
    const memory = requireOwnChangeableMemory(ctx, memory_id, 'change it');
    requireOneOf('tier', tier, MEMORY_TIERS);
    requireImportance(importance);
    requireText('text', text, LIMITS.textLength);
    requireTags(tags);
    ctx.db.memory_entry.id.update({ ...memory, tier, importance, text, tags, updated_at: ctx.timestamp });
  },
);

/** Makes an own entry readable by every agent (`shared`) or by its agent only again (`private`). */
export const shareMemory = defineReducer({ memory_id: t.u64(), scope: t.string() }, (ctx, { memory_id, scope }) => {
  const agent = requireAgent(ctx, 'share memory');
  requireOneOf('scope', scope, MEMORY_SCOPES);
  const memory = requireVisibleMemory(ctx, agent.name, memory_id);
  if (memory.agent !== agent.name) reject(`Memory ${memory_id} belongs to ${memory.agent}; only it may share it`);
  if (memory.scope === scope) reject(`Memory ${memory_id} is already ${scope}`);
  ctx.db.memory_entry.id.update({ ...memory, scope, updated_at: ctx.timestamp });
});

/** Deletes an own entry and its provenance links (not archived, not being compacted). */
export const deleteMemory = defineReducer({ memory_id: t.u64() }, (ctx, { memory_id }) => {
  requireOwnChangeableMemory(ctx, memory_id, 'delete it');
  for (const link of [...ctx.db.memory_link.memory_id.filter(memory_id)]) ctx.db.memory_link.delete(link);
  ctx.db.memory_entry.id.delete(memory_id);
});

/**
 * A reflection is stored twice on purpose: as a public reflection row (what happened, for everyone)
 * and as a private daily memory of the agent, linked to the reflection, the task and whatever `links`
 * names (cycle, stimulus, tool calls, inference usage rows).
 */
export const recordReflection = defineReducer(
  {
    task_id: t.option(t.u64()),
    text: t.string(),
    importance: t.f64(),
    tags: t.array(t.string()),
    links: t.array(memoryLinkInput),
  },
  (ctx, { task_id, text, importance, tags, links }) => {
    const agent = requireAgent(ctx, 'record reflections');
    requireText('text', text, LIMITS.textLength);
    requireImportance(importance);
    requireTags(tags);
    if (task_id !== undefined) requireTask(ctx, task_id);
    requireLinks(ctx, agent.name, links, false);
    if (links.some((link) => link.kind === 'reflection' || (link.kind === 'task' && link.id === task_id))) {
      reject('Expected `links` not to repeat the reflection or its `task_id`: they are linked already');
    }
    const memory = ctx.db.memory_entry.insert({
      id: 0n,
      agent: agent.name,
      tier: 'daily',
      scope: 'private',
      importance,
      text,
      tags,
      archived: false,
      compaction_id: undefined,
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
    const all: LinkInput[] = [{ kind: 'reflection', id: reflection.id }];
    if (task_id !== undefined) all.push({ kind: 'task', id: task_id });
    insertLinks(ctx, memory.id, [...all, ...links]);
  },
);

/**
 * Claims own short-term and daily entries for one compaction run. Each source must be unarchived and
 * not held by another open run. The run stays `open` (its sources unchangeable) until completed or
 * abandoned, also across crashes.
 */
export const beginMemoryCompaction = defineReducer({ source_ids: t.array(t.u64()) }, (ctx, { source_ids }) => {
  const agent = requireAgent(ctx, 'compact memory');
  if (source_ids.length < 1 || source_ids.length > LIMITS.maxCompactionSources) {
    reject(`Expected \`source_ids\` to list 1-${LIMITS.maxCompactionSources} memories, got ${source_ids.length}`);
  }
  if (new Set(source_ids).size !== source_ids.length) reject('Expected `source_ids` to list each memory once');
  const sources = source_ids.map((id) => {
    const memory = requireOwnChangeableMemory(ctx, id, 'compact it');
    if (memory.tier === 'long') reject(`Memory ${id} is long-term already; compaction merges short-term and daily`);
    return memory;
  });
  const run = ctx.db.memory_compaction.insert({
    id: 0n,
    agent: agent.name,
    state: 'open',
    source_ids,
    result_ids: [],
    created_at: ctx.timestamp,
    finished_at: undefined,
  });
  for (const memory of sources) ctx.db.memory_entry.id.update({ ...memory, compaction_id: run.id });
});

function requireOwnOpenRun(ctx: ReducerContext, compactionId: bigint, action: string): MemoryCompactionRow {
  const agent = requireAgent(ctx, action);
  const run = ctx.db.memory_compaction.id.find(compactionId);
  if (run === null || run.agent !== agent.name) reject(`Compaction run ${compactionId} does not exist`);
  if (run.state !== 'open') reject(`Compaction run ${compactionId} is ${run.state} already`);
  return run;
}

/**
 * Completes an open run: writes each long-term entry (private unless every one of its sources is
 * shared), links it to every source it names, archives all the run's sources and marks the run done,
 * in one transaction. Every source must be named by at least one entry, so nothing is archived without
 * a summary. A second call for the same run is rejected: nothing is written twice.
 */
export const completeMemoryCompaction = defineReducer(
  { compaction_id: t.u64(), entries: t.array(compactedEntryInput) },
  (ctx, { compaction_id, entries }) => {
    const run = requireOwnOpenRun(ctx, compaction_id, 'compact memory');
    if (entries.length < 1 || entries.length > LIMITS.maxCompactionResults) {
      reject(`Expected \`entries\` to list 1-${LIMITS.maxCompactionResults} long-term entries, got ${entries.length}`);
    }
    const runSources = new Set(run.source_ids);
    const covered = new Set<bigint>();
    for (const [index, entry] of entries.entries()) {
      requireText(`entries[${index}].text`, entry.text, LIMITS.textLength);
      requireNumberInRange(`entries[${index}].importance`, entry.importance, 0, 1);
      requireTags(entry.tags);
      if (entry.source_ids.length === 0)
        reject(`Expected \`entries[${index}].source_ids\` to name at least one source`);
      if (new Set(entry.source_ids).size !== entry.source_ids.length) {
        reject(`Expected \`entries[${index}].source_ids\` to list each memory once`);
      }
      for (const id of entry.source_ids) {
        if (!runSources.has(id)) reject(`Memory ${id} is not a source of compaction run ${compaction_id}`);
        covered.add(id);
      }
    }
    const missing = run.source_ids.filter((id) => !covered.has(id));
    if (missing.length > 0) reject(`Expected every source to be summarised; missing ${missing.join(', ')}`);
    const sources = new Map<bigint, MemoryEntryRow>();
    for (const id of run.source_ids) {
      const memory = ctx.db.memory_entry.id.find(id);
      // Sources cannot change while the run is open; a missing one means the database was edited by hand.
      if (memory === null) reject(`Memory ${id} of compaction run ${compaction_id} no longer exists`);
      sources.set(id, memory);
    }
    const resultIds: bigint[] = [];
    for (const entry of entries) {
      const shared = entry.source_ids.every((id) => sources.get(id)!.scope === 'shared');
      const memory = ctx.db.memory_entry.insert({
        id: 0n,
        agent: run.agent,
        tier: 'long',
        scope: shared ? 'shared' : 'private',
        importance: entry.importance,
        text: entry.text,
        tags: entry.tags,
        archived: false,
        compaction_id: run.id,
        created_at: ctx.timestamp,
        updated_at: ctx.timestamp,
      });
      insertLinks(
        ctx,
        memory.id,
        entry.source_ids.map((id) => ({ kind: 'memory', id })),
      );
      resultIds.push(memory.id);
    }
    for (const memory of sources.values()) {
      ctx.db.memory_entry.id.update({ ...memory, archived: true, updated_at: ctx.timestamp });
    }
    ctx.db.memory_compaction.id.update({ ...run, state: 'done', result_ids: resultIds, finished_at: ctx.timestamp });
  },
);

/** Gives up an open run: its sources are released unchanged and may be compacted again later. */
export const abandonMemoryCompaction = defineReducer({ compaction_id: t.u64() }, (ctx, { compaction_id }) => {
  const run = requireOwnOpenRun(ctx, compaction_id, 'compact memory');
  for (const id of run.source_ids) {
    const memory = ctx.db.memory_entry.id.find(id);
    if (memory !== null && memory.compaction_id === run.id) {
      ctx.db.memory_entry.id.update({ ...memory, compaction_id: undefined });
    }
  }
  ctx.db.memory_compaction.id.update({ ...run, state: 'abandoned', finished_at: ctx.timestamp });
});

/**
 * Admin only: loads one memory of `agent` as it was, e.g. from an earlier install's export or another
 * system's notes: its tier, scope, archived state, `created_at` (not in the future) and links. Memory
 * links must name memories of the same agent imported before it (the importer maps exported ids).
 */
export const importMemory = defineReducer(
  {
    agent: t.string(),
    tier: t.string(),
    scope: t.string(),
    importance: t.f64(),
    text: t.string(),
    tags: t.array(t.string()),
    archived: t.bool(),
    created_at: t.timestamp(),
    links: t.array(memoryLinkInput),
  },
  (ctx, { agent, tier, scope, importance, text, tags, archived, created_at, links }) => {
    requireAdmin(ctx, 'import memories');
    requireRegisteredAgentName(ctx, 'agent', agent);
    requireOneOf('tier', tier, MEMORY_TIERS);
    requireOneOf('scope', scope, MEMORY_SCOPES);
    requireImportance(importance);
    requireText('text', text, LIMITS.textLength);
    requireTags(tags);
    if (created_at.microsSinceUnixEpoch > ctx.timestamp.microsSinceUnixEpoch) {
      reject('Expected `created_at` not to be in the future');
    }
    requireLinks(ctx, agent, links, true);
    const memory = ctx.db.memory_entry.insert({
      id: 0n,
      agent,
      tier,
      scope,
      importance,
      text,
      tags,
      archived,
      compaction_id: undefined,
      created_at,
      updated_at: ctx.timestamp,
    });
    insertLinks(ctx, memory.id, links);
  },
);
