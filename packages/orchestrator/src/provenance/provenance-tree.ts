import type { EmbeddedDatabase } from '@clawfleet/embedded-bus';
import { type BusRow, ClawError, type ProvenanceNode, type ProvenanceNodeKind } from '@clawfleet/protocol';

export interface ProvenanceOptions {
  /** Nodes expanded at most; the rest are listed without their sources. @default 1000 */
  maxNodes?: number;
}

/** Characters of a row's text shown in its title. */
const TITLE_TEXT = 80;
/** Link kinds walked first: their subtrees hold what the other links point at again. */
const LINK_ORDER: readonly string[] = [
  'memory',
  'reflection',
  'cycle',
  'task',
  'stimulus',
  'message',
  'tool_call',
  'inference_usage',
];

type Fields = ProvenanceNode['fields'];

function short(text: unknown): string {
  const value = String(text ?? '').replace(/\s+/g, ' ');
  return value.length > TITLE_TEXT ? `${value.slice(0, TITLE_TEXT - 1)}…` : value;
}

/** Microseconds since the epoch (a row timestamp) as ISO 8601, or null. */
function time(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  return new Date(Number(value) / 1000).toISOString();
}

function optional(value: unknown): string | number | null {
  if (value === null || value === undefined) return null;
  return typeof value === 'number' ? value : String(value);
}

/**
 * Why an agent believes what a memory entry says: the tree from the entry back through the
 * compactions that merged it, the reflections and notes it came from, to the cycles, the stimuli,
 * tasks and messages that started them, their tool calls and their inference calls (with what was
 * recorded for replay). One function, read as an admin, behind `admin.why` (`claw why`) and the
 * HTTP API's `GET /api/memory/entries/:id/provenance`.
 *
 * A row reached twice is shown once with its sources and then as `repeated`; a link whose row is
 * gone is `missing`. NOT_FOUND when the entry does not exist.
 */
export function provenanceOf(
  database: EmbeddedDatabase,
  adminName: string,
  memoryId: number,
  options: ProvenanceOptions = {},
): ProvenanceNode {
  const walk = new ProvenanceWalk(database, adminName, options.maxNodes ?? 1_000);
  const root = walk.node('memory', memoryId);
  if (root.missing) {
    throw new ClawError('NOT_FOUND', `Memory entry ${memoryId} does not exist`, { details: { memoryId } });
  }
  return root;
}

class ProvenanceWalk {
  readonly #database: EmbeddedDatabase;
  readonly #admin: string;
  readonly #maxNodes: number;
  readonly #seen = new Set<string>();
  #expanded = 0;
  /** memory id -> the compaction run that wrote it (from `result_ids`), built on first need. */
  #compactionOf: Map<number, BusRow> | undefined;

  constructor(database: EmbeddedDatabase, adminName: string, maxNodes: number) {
    this.#database = database;
    this.#admin = adminName;
    this.#maxNodes = maxNodes;
  }

  #rows(table: string, where: Record<string, string | number>): BusRow[] {
    return this.#database.query(this.#admin, table, where);
  }

  #row(table: string, id: number | string, column = 'id'): BusRow | undefined {
    return this.#rows(table, { [column]: id })[0];
  }

  /** The node for a row: expanded the first time it is reached, `repeated` after that. */
  node(kind: ProvenanceNodeKind, id: number | string, row?: BusRow): ProvenanceNode {
    const key = `${kind}:${id}`;
    const found = row ?? this.#find(kind, id);
    if (found === undefined) {
      return {
        kind,
        id,
        title: `${kind.replace('_', ' ')} ${id} (no longer exists)`,
        fields: {},
        children: [],
        missing: true,
      };
    }
    const described = this.#describe(kind, id, found);
    if (this.#seen.has(key)) return { ...described, children: [], repeated: true };
    this.#seen.add(key);
    if (this.#expanded >= this.#maxNodes) {
      return { ...described, fields: { ...described.fields, truncated: true }, children: [] };
    }
    this.#expanded += 1;
    return { ...described, children: this.#sources(kind, id, found) };
  }

  #find(kind: ProvenanceNodeKind, id: number | string): BusRow | undefined {
    switch (kind) {
      case 'memory':
        return this.#row('memory_entry', id);
      case 'compaction':
        return this.#row('memory_compaction', id);
      case 'inference':
        return this.#row('cycle_inference', id);
      default:
        return this.#row(kind, id);
    }
  }

  #describe(kind: ProvenanceNodeKind, id: number | string, row: BusRow): Omit<ProvenanceNode, 'children'> {
    switch (kind) {
      case 'memory':
        return {
          kind,
          id,
          title: `memory #${id} of ${String(row.agent)} (${String(row.tier)}, ${String(row.scope)}): ${short(row.text)}`,
          fields: {
            agent: String(row.agent),
            tier: String(row.tier),
            scope: String(row.scope),
            importance: Number(row.importance),
            tags: Array.isArray(row.tags) ? row.tags.join(', ') : '',
            archived: row.archived === true,
            created_at: time(row.created_at),
          },
        };
      case 'compaction':
        return {
          kind,
          id,
          title: `compaction #${id} of ${String(row.agent)} (${String(row.state)}): merged ${Array.isArray(row.source_ids) ? row.source_ids.length : 0} entries`,
          fields: { agent: String(row.agent), state: String(row.state), finished_at: time(row.finished_at) },
        };
      case 'reflection':
        return {
          kind,
          id,
          title: `reflection #${id} of ${String(row.agent)}: ${short(row.text)}`,
          fields: {
            agent: String(row.agent),
            importance: Number(row.importance),
            task_id: optional(row.task_id),
            created_at: time(row.created_at),
          },
        };
      case 'cycle':
        return {
          kind,
          id,
          title: `cycle #${id} of ${String(row.agent)} on ${String(row.trigger_key)}: ${String(row.decision ?? 'untriaged')} → ${String(row.outcome ?? row.phase)}`,
          fields: {
            agent: String(row.agent),
            trigger: String(row.trigger_key),
            phase: String(row.phase),
            decision: optional(row.decision),
            reason: short(row.reason),
            outcome: optional(row.outcome),
            outcome_detail: short(row.outcome_detail),
            steps: Number(row.steps),
            tokens: Number(row.tokens),
            started_at: time(row.started_at),
          },
        };
      case 'stimulus':
        return {
          kind,
          id,
          title: `stimulus #${id} (${String(row.kind)} from ${String(row.source)}): ${short(row.text)}`,
          fields: {
            source: String(row.source),
            target_agent: optional(row.target_agent),
            priority: Number(row.priority),
            created_at: time(row.created_at),
          },
        };
      case 'task':
        return {
          kind,
          id,
          title: `task #${id} "${short(row.title)}" (${String(row.state)})`,
          fields: {
            state: String(row.state),
            owner: optional(row.owner),
            priority: Number(row.priority),
            attempts: Number(row.attempts),
            result: row.result === null || row.result === undefined ? null : short(row.result),
          },
        };
      case 'message':
        return {
          kind,
          id,
          title: `message #${id} ${String(row.from_agent)} → ${String(row.to_agent ?? 'everyone')} (${String(row.kind)}): ${short(row.text)}`,
          fields: { from: String(row.from_agent), to: optional(row.to_agent), created_at: time(row.created_at) },
        };
      case 'tool_call':
        return {
          kind,
          id,
          title: `tool call #${id}: step ${Number(row.step)} ${String(row.tool)} (${String(row.state)})`,
          fields: {
            tool: String(row.tool),
            args: short(row.args),
            state: String(row.state),
            error_code: String(row.error_code) === '' ? null : String(row.error_code),
            result_sha256: String(row.result_digest) === '' ? null : String(row.result_digest),
            duration_ms: Number(row.duration_ms),
          },
        };
      case 'inference':
        return this.#describeInference(id, row);
      case 'inference_usage':
        return {
          kind,
          id,
          title: `inference usage #${id}: ${String(row.agent)} on ${String(row.model)} (${String(row.outcome)})`,
          fields: {
            request_id: String(row.request_id),
            method: String(row.method),
            prompt_tokens: Number(row.prompt_tokens),
            completion_tokens: Number(row.completion_tokens),
          },
        };
    }
  }

  /** A cycle's inference call, with what was recorded for replay when there is a record. */
  #describeInference(id: number | string, call: BusRow): Omit<ProvenanceNode, 'children'> {
    const requestId = String(call.request_id);
    const record = requestId === '' ? undefined : this.#row('inference_record', requestId, 'request_id');
    const fields: Fields = {
      phase: String(call.phase),
      model: String(call.model),
      request_id: requestId === '' ? null : requestId,
      tokens_in: Number(call.tokens_in),
      tokens_out: Number(call.tokens_out),
      recorded: record !== undefined,
    };
    if (record !== undefined) {
      const prompt = this.#row('inference_text', String(record.prompt_sha256), 'sha256');
      Object.assign(fields, {
        model_sha256: String(record.model_sha256),
        engine: `${String(record.engine)} (${String(record.backend)}, ${Number(record.threads)} threads)`,
        temperature: Number(record.temperature),
        top_p: optional(record.top_p),
        seed: Number(record.seed),
        grammar_sha256: optional(record.grammar_sha256),
        prompt_sha256: String(record.prompt_sha256),
        prompt_retained: prompt !== undefined,
        output: short(record.output),
      });
    }
    return {
      kind: 'inference',
      id,
      title: `inference #${id}: ${String(call.phase)} on ${String(call.model)}, ${Number(call.tokens_in)} tokens in, ${Number(call.tokens_out)} out${record === undefined ? ' (not recorded)' : `, seed ${Number(record.seed)}`}`,
      fields,
    };
  }

  #sources(kind: ProvenanceNodeKind, id: number | string, row: BusRow): ProvenanceNode[] {
    switch (kind) {
      case 'memory':
        return this.#memorySources(Number(id));
      case 'compaction':
        return (Array.isArray(row.source_ids) ? row.source_ids : []).map((source) =>
          this.node('memory', Number(source)),
        );
      case 'reflection':
        return row.task_id === null || row.task_id === undefined ? [] : [this.node('task', Number(row.task_id))];
      case 'cycle':
        return this.#cycleSources(Number(id), row);
      case 'task':
        return row.stimulus_id === null || row.stimulus_id === undefined
          ? []
          : [this.node('stimulus', Number(row.stimulus_id))];
      case 'message':
        return row.task_id === null || row.task_id === undefined ? [] : [this.node('task', Number(row.task_id))];
      default:
        return [];
    }
  }

  #memorySources(memoryId: number): ProvenanceNode[] {
    const links = this.#rows('memory_link', { memory_id: memoryId }).sort(
      (a, b) =>
        LINK_ORDER.indexOf(String(a.target_kind)) - LINK_ORDER.indexOf(String(b.target_kind)) ||
        Number(a.target_id) - Number(b.target_id),
    );
    const children: ProvenanceNode[] = [];
    // A long-term entry's `memory` links are the sources of the compaction that wrote it: shown under it.
    const compaction = this.#compactionWriting(memoryId);
    if (compaction !== undefined) children.push(this.node('compaction', Number(compaction.id), compaction));
    const merged = new Set((compaction?.source_ids as unknown[] | undefined)?.map(Number) ?? []);
    for (const link of links) {
      const kind = String(link.target_kind);
      const target = Number(link.target_id);
      if (kind === 'memory' && merged.has(target)) continue;
      if (kind === 'inference_usage') {
        children.push(this.node('inference_usage', target));
      } else if (isNodeKind(kind)) {
        children.push(this.node(kind, target));
      }
    }
    return children;
  }

  #compactionWriting(memoryId: number): BusRow | undefined {
    if (this.#compactionOf === undefined) {
      this.#compactionOf = new Map();
      for (const run of this.#database.query(this.#admin, 'memory_compaction')) {
        for (const result of Array.isArray(run.result_ids) ? run.result_ids : []) {
          this.#compactionOf.set(Number(result), run);
        }
      }
    }
    return this.#compactionOf.get(memoryId);
  }

  #cycleSources(cycleId: number, cycle: BusRow): ProvenanceNode[] {
    const children: ProvenanceNode[] = [];
    const [triggerKind, triggerId] = String(cycle.trigger_key).split(':');
    const trigger = Number(triggerId);
    // Lease, attention and plan triggers resume work whose origin is the cycle's task (below).
    if (triggerKind === 'stimulus' || triggerKind === 'task' || triggerKind === 'message') {
      children.push(this.node(triggerKind, trigger));
    }
    if (
      cycle.task_id !== null &&
      cycle.task_id !== undefined &&
      !(triggerKind === 'task' && trigger === Number(cycle.task_id))
    ) {
      children.push(this.node('task', Number(cycle.task_id)));
    }
    const calls = this.#rows('cycle_inference', { cycle_id: cycleId }).map((row) => ({
      at: Number(row.id),
      kind: 'inference' as const,
      row,
    }));
    const tools = this.#rows('tool_call', { cycle_id: cycleId }).map((row) => ({
      at: Number(row.id),
      kind: 'tool_call' as const,
      row,
    }));
    // In the order they happened: each step's model call, then the tool it chose.
    const steps = [...calls, ...tools].sort(
      (a, b) =>
        Number(a.row.created_at ?? a.row.started_at) - Number(b.row.created_at ?? b.row.started_at) || a.at - b.at,
    );
    for (const step of steps) children.push(this.node(step.kind, step.at, step.row));
    return children;
  }
}

const LINKABLE: ReadonlySet<string> = new Set([
  'memory',
  'reflection',
  'cycle',
  'task',
  'stimulus',
  'message',
  'tool_call',
]);

function isNodeKind(kind: string): kind is ProvenanceNodeKind {
  return LINKABLE.has(kind);
}
