import type { ProvenanceNode } from '@clawfleet/protocol';
import type { Command } from 'commander';
import type { CliRuntime } from '../cli-runtime.ts';
import type { Output } from '../output/output.ts';
import { idArgument } from './arguments.ts';

const HASH = /^[0-9a-f]{64}$/;

export function registerWhy(program: Command, runtime: CliRuntime): void {
  program
    .command('why')
    .description(
      'where a memory came from: compactions, reflections, cycles, stimuli and tasks, tool calls and model calls, as a tree',
    )
    .argument('<memory-id>', 'the memory entry (claw memory <agent> shows ids)', idArgument)
    .option('--json', 'print the tree as JSON')
    .action(async (memoryId: number, options: { json?: boolean }, command: Command) => {
      const context = runtime.context(command);
      const { root } = await context.withOrchestrator('Tracing provenance', (connection) => connection.why(memoryId));
      if (options.json) return context.output.json(root);
      printTree(context.output, root);
    });
}

/** One node per line under box-drawing branches, its fields on a dimmed line below. */
function printTree(output: Output, root: ProvenanceNode): void {
  const visit = (node: ProvenanceNode, lead: string, branch: string, last: boolean): void => {
    const { color } = output;
    const note = node.repeated ? color.dim(' (shown above)') : node.missing ? color.red(' (missing)') : '';
    // Titles start with what the node is ("cycle #3 of DevClaw ..."): that word in bold.
    const space = node.title.indexOf(' #');
    const title = space === -1 ? node.title : `${color.bold(node.title.slice(0, space))}${node.title.slice(space)}`;
    output.line(`${lead}${branch}${title}${note}`);
    const inner = `${lead}${branch === '' ? '' : last ? '   ' : '│  '}`;
    const fields = describeFields(node);
    if (fields !== '' && !node.repeated) {
      output.line(`${inner}${node.children.length > 0 ? '│ ' : '  '}${color.dim(fields)}`);
    }
    node.children.forEach((child, index) => {
      const isLast = index === node.children.length - 1;
      visit(child, inner, isLast ? '└─ ' : '├─ ', isLast);
    });
  };
  visit(root, '', '', true);
}

function describeFields(node: ProvenanceNode): string {
  return Object.entries(node.fields)
    .filter(([, value]) => value !== null && value !== '')
    .map(([key, value]) => `${key}: ${typeof value === 'string' && HASH.test(value) ? value.slice(0, 12) : value}`)
    .join(' · ');
}
