import { z } from 'zod';
import { type AnyAgentTool, defineTool } from '../tool.ts';

/**
 * The memory tools, over the memory package (adapted to `ToolMemory` by the runtime). Every call is
 * made as the agent: it searches what it may see (its own and shared entries), writes only to its
 * own scope, and shares only its own entries; the database enforces all three.
 */
export function createMemoryTools(): AnyAgentTool[] {
  const search = defineTool({
    name: 'memory.search',
    description: 'Search your memories (and those shared with you) for a query; best matches first, with their ids.',
    argsSchema: z.strictObject({
      query: z.string().min(1).max(1_000),
      limit: z.number().int().min(1).max(20).default(5),
    }),
    sideEffect: false,
    async run(args, context) {
      const hits = await context.memory.search(args.query, { limit: args.limit, signal: context.signal });
      return {
        output: { hits: hits.map((hit) => ({ ...hit })) },
        text:
          hits.length === 0
            ? 'No memory matches'
            : hits.map((hit) => `[memory ${hit.id}, ${hit.tier}, ${hit.scope}] ${hit.text}`).join('\n'),
      };
    },
  });

  const note = defineTool({
    name: 'memory.note',
    description: 'Write a note to your own memory, with an importance from 0 to 1 and tags.',
    argsSchema: z.strictObject({
      text: z.string().min(1).max(8_000),
      importance: z.number().min(0).max(1).default(0.5),
      tags: z
        .array(z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/))
        .max(16)
        .default([]),
    }),
    sideEffect: true,
    async run(args, context) {
      const written = await context.memory.writeNote(
        { text: args.text, importance: args.importance, tags: args.tags },
        { signal: context.signal },
      );
      return { output: { id: written.id }, text: `Noted as memory ${written.id}` };
    },
  });

  const share = defineTool({
    name: 'memory.share',
    description: 'Share one of your memory entries with every agent.',
    argsSchema: z.strictObject({ entryId: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER) }),
    sideEffect: true,
    async run(args, context) {
      await context.memory.share(args.entryId, { signal: context.signal });
      return { output: { id: args.entryId, scope: 'shared' }, text: `Memory ${args.entryId} is now shared` };
    },
  });

  return [search, note, share];
}
