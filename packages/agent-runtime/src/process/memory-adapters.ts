/**
 * The memory package seen through the two ports that use it: the loop's retrieval for triage
 * (`LoopMemory`) and the memory tools' view (`ToolMemory`). Both act as the agent itself; scope and
 * ownership are enforced by the database.
 */
import type { ToolMemory } from '@clawfleet/agent-tools';
import type { AgentMemory } from '@clawfleet/memory';
import type { LoopMemory } from '../ports.ts';

/** Retrieval for triage: the best live (not archived) entries for the stimulus text. */
export function loopMemoryOf(memory: AgentMemory): LoopMemory {
  return {
    async retrieve(query, options) {
      const results = await memory.retrieve(query.slice(0, 2_000), { limit: options.limit, signal: options.signal });
      return results.map((result) => ({ id: result.entry.id, text: result.entry.text }));
    },
  };
}

export function toolMemoryOf(memory: AgentMemory): ToolMemory {
  return {
    async search(query, options) {
      const results = await memory.retrieve(query.slice(0, 2_000), { limit: options.limit, signal: options.signal });
      return results.map((result) => ({
        id: result.entry.id,
        text: result.entry.text,
        tier: result.entry.tier,
        scope: result.entry.scope,
        score: result.score,
      }));
    },
    async writeNote(note, options) {
      const entry = await memory.writeNote(
        { text: note.text, importance: note.importance, tags: note.tags },
        { signal: options.signal },
      );
      return { id: entry.id };
    },
    async share(entryId, options) {
      await memory.share(entryId, { signal: options.signal });
    },
  };
}
