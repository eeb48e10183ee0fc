import { readFile, writeFile } from 'node:fs/promises';
import { listMemories, searchMemories } from '@clawfleet/fleet-views';
import {
  explainRetrieval,
  exportMemories,
  importMemories,
  MEMORY_TIERS,
  type MemoryEntry,
  type MemoryTier,
} from '@clawfleet/memory';
import { ClawError } from '@clawfleet/protocol';
import { type Command, Option } from 'commander';
import type { CliRuntime } from '../cli-runtime.ts';
import { formatTime } from '../output/format.ts';
import { requireAgentName } from './agents-lookup.ts';
import { integerArgument } from './arguments.ts';

interface MemoryOptions {
  tier?: MemoryTier;
  search?: string;
  explain?: boolean;
  archived?: boolean;
  limit: number;
  json?: boolean;
}

export function registerMemory(program: Command, runtime: CliRuntime): void {
  const memory = program
    .command('memory')
    .description("an agent's memories: list by tier, search (with --explain), import and export as JSONL")
    .argument('<agent>', 'the agent')
    .addOption(new Option('--tier <tier>', 'only this tier').choices(MEMORY_TIERS))
    .option('--search <query>', 'rank the memories the agent can see (its own and shared ones) for this query')
    .option('--explain', 'with --search: show why each memory ranked where it did')
    .option('--archived', 'include entries archived by compaction')
    .option('--limit <n>', 'at most this many', integerArgument(1, 100_000), 20)
    .option('--json', 'print the memories as JSON')
    .addHelpText(
      'after',
      `\nSubcommands:\n  claw memory import <agent> <file.jsonl>   load memories (keeping created_at and sources)\n  claw memory export <agent> <file.jsonl>   write them out ('-' for stdout)\n\nThe CLI ranks by words (BM25), recency and importance; agents add embedding similarity.`,
    )
    .action(async (agent: string, options: MemoryOptions, command: Command) => {
      const context = runtime.context(command);
      if (options.explain && options.search === undefined) {
        throw new ClawError('INVALID_PARAMS', '--explain goes with --search <query>');
      }
      await context.withConnection(async (connection) => {
        await requireAgentName(connection, agent);
        const { output } = context;
        const listOptions = {
          ...(options.tier === undefined ? {} : { tier: options.tier }),
          archived: options.archived ?? false,
          limit: options.limit,
        };
        if (options.search === undefined) {
          const listed = await listMemories(connection, agent, listOptions);
          if (options.json) return output.json(listed);
          if (listed.length === 0)
            return output.note(`no memories of ${agent}${options.tier ? ` in tier ${options.tier}` : ''}`);
          for (const entry of listed) printEntry(output, entry);
          return;
        }
        const results = await searchMemories(connection, agent, options.search, listOptions);
        if (options.json) return output.json(results);
        if (results.length === 0) return output.note(`no memory of ${agent} matches \`${options.search}\``);
        for (const result of results) {
          printEntry(output, result.entry, result.score);
          if (options.explain) output.line(output.color.dim(`  why: ${explainRetrieval(result)}`));
        }
      });
    });

  memory
    .command('import')
    .description("load an agent's memories from JSONL (one memory per line; created_at and sources kept)")
    .argument('<agent>', 'the agent the memories become')
    .argument('<file>', 'the JSONL file')
    .action(async (agent: string, file: string, _options: unknown, command: Command) => {
      const context = runtime.context(command);
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (error) {
        throw new ClawError(
          'NOT_FOUND',
          `Cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
        );
      }
      await context.withConnection(async (connection) => {
        await requireAgentName(connection, agent);
        const report = await importMemories(await connection.bus(), agent, text);
        context.output.line(`imported ${report.imported} memor${report.imported === 1 ? 'y' : 'ies'} into ${agent}`);
      });
    });

  memory
    .command('export')
    .description("write an agent's memories (archived ones too, with sources) as JSONL")
    .argument('<agent>', 'the agent')
    .argument('<file>', "the JSONL file to write ('-' for stdout)")
    .action(async (agent: string, file: string, _options: unknown, command: Command) => {
      const context = runtime.context(command);
      await context.withConnection(async (connection) => {
        await requireAgentName(connection, agent);
        const jsonl = await exportMemories(await connection.bus(), agent);
        const count = jsonl.split('\n').filter((line) => line.length > 0).length;
        if (file === '-') context.output.write(jsonl);
        else {
          await writeFile(file, jsonl, { mode: 0o600 });
          context.output.note(`exported ${count} memor${count === 1 ? 'y' : 'ies'} of ${agent} to ${file}`);
        }
      });
    });
}

function printEntry(output: import('../output/output.ts').Output, entry: MemoryEntry, score?: number): void {
  const { color } = output;
  const tags = entry.tags.length > 0 ? ` [${entry.tags.join(', ')}]` : '';
  const head = `#${entry.id} ${entry.agent} ${entry.tier}/${entry.scope} importance ${entry.importance.toFixed(2)}${tags}`;
  output.line(
    `${color.bold(head)} ${color.dim(formatTime(entry.createdAt * 1000))}${score === undefined ? '' : color.dim(` score ${score.toFixed(3)}`)}${entry.archived ? color.dim(' (archived)') : ''}`,
  );
  output.line(`  ${entry.text}`);
}
