/**
 * Import and export of one agent's memories as JSONL, one memory per line:
 *
 *   {"id":12,"text":"...","tier":"long","scope":"private","importance":0.7,"tags":["vpn"],
 *    "archived":false,"created_at":"2026-11-30T08:15:00.000Z","sources":[{"kind":"memory","id":9}]}
 *
 * `id` names the memory within the file; a `memory` source names another line of the same file by that
 * id (the importer maps it to the new id). Other sources (task, message, cycle...) keep their ids as
 * they were. Both directions are admin operations: the export reads the private tables, the import
 * calls `import_memory`, the only reducer that accepts an earlier `created_at`.
 */
import type { BusClient, BusRow } from '@clawfleet/bus-client';
import { ClawError, parseOrThrow } from '@clawfleet/protocol';
import { z } from 'zod';
import { MEMORY_LINK_KINDS, MEMORY_SCOPES, MEMORY_TIERS } from '../memory-entry.ts';
import { entryFromRow, linkFromRow, msToMicros } from '../store/rows.ts';

const timestampSchema = z.union([
  z.iso.datetime({ offset: true, error: 'Expected `created_at` to be an ISO 8601 date-time' }),
  z.number().int().nonnegative(),
]);

/** One line of a memory JSONL file. */
export const memoryRecordSchema = z.strictObject({
  id: z.number().int().nonnegative(),
  text: z.string().min(1).max(8_000),
  tier: z.enum(MEMORY_TIERS),
  scope: z.enum(MEMORY_SCOPES).default('private'),
  importance: z.number().min(0).max(1),
  tags: z.array(z.string()).max(16).default([]),
  archived: z.boolean().default(false),
  /** ISO 8601, or milliseconds since the epoch. */
  created_at: timestampSchema,
  sources: z
    .array(z.strictObject({ kind: z.enum(MEMORY_LINK_KINDS), id: z.number().int().nonnegative() }))
    .max(64)
    .default([]),
});
export type MemoryRecord = z.output<typeof memoryRecordSchema>;

const AGENT_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

function requireAgentName(agent: string): void {
  if (!AGENT_NAME.test(agent))
    throw new ClawError('INVALID_PARAMS', `Expected \`agent\` to be an agent name, got \`${agent}\``);
}

function invalid(line: number, message: string): ClawError {
  return new ClawError('IMPORT_INVALID', `Line ${line}: ${message}`, { details: { line } });
}

/**
 * Parses and checks a whole file before anything is written: every line valid, ids unique, every
 * `memory` source present in the file, no cycles. Returns the records in an order where each
 * memory comes after the memories it names. Throws IMPORT_INVALID naming the line.
 */
export function parseMemoryJsonl(text: string): MemoryRecord[] {
  const records: { record: MemoryRecord; line: number }[] = [];
  const lines = text.split('\n');
  for (const [index, raw] of lines.entries()) {
    const line = index + 1;
    if (raw.trim().length === 0) continue;
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      throw invalid(line, 'not valid JSON');
    }
    try {
      records.push({ record: parseOrThrow(memoryRecordSchema, json, 'IMPORT_INVALID', 'memory record'), line });
    } catch (error) {
      throw invalid(line, (error as Error).message);
    }
  }
  const byId = new Map<number, { record: MemoryRecord; line: number }>();
  for (const item of records) {
    if (byId.has(item.record.id))
      throw invalid(item.line, `id ${item.record.id} is used by line ${byId.get(item.record.id)!.line} too`);
    byId.set(item.record.id, item);
  }
  for (const { record, line } of records) {
    for (const source of record.sources) {
      if (source.kind === 'memory' && !byId.has(source.id)) {
        throw invalid(line, `source memory ${source.id} is not in the file`);
      }
    }
  }
  // Depth-first topological order: a memory after everything it was derived from.
  const ordered: MemoryRecord[] = [];
  const state = new Map<number, 'visiting' | 'done'>();
  const visit = (item: { record: MemoryRecord; line: number }) => {
    const seen = state.get(item.record.id);
    if (seen === 'done') return;
    if (seen === 'visiting')
      throw invalid(item.line, `memory ${item.record.id} is its own source (a cycle of sources)`);
    state.set(item.record.id, 'visiting');
    for (const source of item.record.sources) if (source.kind === 'memory') visit(byId.get(source.id)!);
    state.set(item.record.id, 'done');
    ordered.push(item.record);
  };
  for (const item of records) visit(item);
  return ordered;
}

/** Subscribes (as admin) to one agent's memory rows and every link, for as long as `use` runs. */
async function withAgentMemory<T>(
  bus: BusClient,
  agent: string,
  use: (rows: () => { entries: readonly BusRow[]; links: readonly BusRow[] }) => Promise<T>,
): Promise<T> {
  requireAgentName(agent);
  const subscription = bus.subscribe([
    `SELECT * FROM memory_entry WHERE agent = '${agent}'`,
    'SELECT * FROM memory_link',
  ]);
  try {
    await subscription.ready;
    return await use(() => ({
      entries: bus.rows('memory_entry').filter((row) => row.agent === agent),
      links: bus.rows('memory_link'),
    }));
  } finally {
    await subscription.dispose();
  }
}

/**
 * Exports every memory of `agent` (archived ones included, so provenance survives) as JSONL, in id
 * order. `bus` must be connected as an admin (the private tables are refused to agents).
 */
export async function exportMemories(bus: BusClient, agent: string): Promise<string> {
  return withAgentMemory(bus, agent, async (rows) => {
    const { entries, links } = rows();
    const linksByMemory = new Map<number, { kind: string; id: number }[]>();
    for (const link of links.map(linkFromRow)) {
      const list = linksByMemory.get(link.memoryId) ?? [];
      list.push({ kind: link.kind, id: link.targetId });
      linksByMemory.set(link.memoryId, list);
    }
    const ownIds = new Set(entries.map((row) => Number(row.id)));
    return entries
      .map(entryFromRow)
      .sort((a, b) => a.id - b.id)
      .map((entry) =>
        JSON.stringify({
          id: entry.id,
          text: entry.text,
          tier: entry.tier,
          scope: entry.scope,
          importance: entry.importance,
          tags: entry.tags,
          archived: entry.archived,
          created_at: new Date(entry.createdAt).toISOString(),
          // A memory source of another agent cannot be re-created with this agent's file; it is left out.
          sources: (linksByMemory.get(entry.id) ?? []).filter((link) => link.kind !== 'memory' || ownIds.has(link.id)),
        }),
      )
      .map((line) => `${line}\n`)
      .join('');
  });
}

export interface ImportReport {
  imported: number;
  /** File id → new database id. */
  ids: Map<number, number>;
}

/**
 * Imports a JSONL file into `agent`'s memory, keeping each record's `created_at`, tier, scope,
 * archived state and sources (memory sources remapped to the new ids). The whole file is checked
 * first (IMPORT_INVALID names the line); then each record is one `import_memory` call, so a
 * failure part-way (REDUCER_REJECTED, CONNECTION_CLOSED) leaves the records before it imported and
 * reports how far it got in `details.imported`. `bus` must be connected as an admin.
 */
export async function importMemories(
  bus: BusClient,
  agent: string,
  jsonl: string,
  options: { signal?: AbortSignal } = {},
): Promise<ImportReport> {
  const records = parseMemoryJsonl(jsonl);
  return withAgentMemory(bus, agent, async (rows) => {
    const ids = new Map<number, number>();
    for (const record of records) {
      options.signal?.throwIfAborted();
      const before = new Set(rows().entries.map((row) => Number(row.id)));
      const createdAt = typeof record.created_at === 'number' ? record.created_at : Date.parse(record.created_at);
      try {
        await bus.callReducer(
          'import_memory',
          {
            agent,
            tier: record.tier,
            scope: record.scope,
            importance: record.importance,
            text: record.text,
            tags: record.tags,
            archived: record.archived,
            created_at: msToMicros(createdAt),
            links: record.sources.map((source) => ({
              kind: source.kind,
              id: source.kind === 'memory' ? ids.get(source.id)! : source.id,
            })),
          },
          options,
        );
      } catch (error) {
        if (error instanceof ClawError) {
          error.details.imported = ids.size;
          error.details.recordId = record.id;
        }
        throw error;
      }
      const created = rows()
        .entries.filter((row) => !before.has(Number(row.id)) && row.text === record.text)
        .map((row) => Number(row.id));
      const id = Math.max(...created);
      if (!Number.isFinite(id))
        throw new ClawError('INTERNAL', `Imported memory ${record.id} did not reach the client`);
      ids.set(record.id, id);
    }
    return { imported: ids.size, ids };
  });
}
