import type { AdminReplayResult, ReplayCall } from '@clawfleet/protocol';
import type { Command } from 'commander';
import type { CliRuntime } from '../cli-runtime.ts';
import { CommandExit, EXIT_CODES } from '../errors/exit-codes.ts';
import type { Output } from '../output/output.ts';
import { idArgument } from './arguments.ts';

export function registerReplay(program: Command, runtime: CliRuntime): void {
  program
    .command('replay')
    .description(
      "run a cycle's model calls again with their recorded settings and say, call by call, whether the output is identical",
    )
    .argument('<cycle-id>', 'the cycle (claw tasks <id> and claw why show cycle ids)', idArgument)
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      `\nEach call runs on the same model (refused when its file's sha256 differs), with the recorded\nsampling, seed, grammar, prefix and prompt (refused when the prompt is no longer stored).\nExit 0: every call identical; 9: at least one diverged. See docs/provenance.md.`,
    )
    .action(async (cycleId: number, options: { json?: boolean }, command: Command) => {
      const context = runtime.context(command);
      const report = await context.withOrchestrator('Replaying a cycle', (connection) => connection.replay(cycleId));
      if (options.json) context.output.json(report);
      else printReport(context.output, report);
      if (!report.identical) throw new CommandExit(EXIT_CODES.diverged);
    });
}

function printReport(output: Output, report: AdminReplayResult): void {
  const { color } = output;
  const same = report.calls.filter((call) => call.identical).length;
  output.line(
    color.bold(`cycle ${report.cycleId} of ${report.agent}: ${same} of ${report.calls.length} calls identical`),
  );
  for (const call of report.calls) printCall(output, call);
}

function printCall(output: Output, call: ReplayCall): void {
  const { color } = output;
  const verdict = call.identical ? color.green('identical') : color.red('diverged');
  const sampling = `temperature ${call.temperature}${call.topP === undefined ? '' : `, top-p ${call.topP}`}, seed ${call.seed}`;
  output.line(
    `  ${call.index}. ${call.phase} (${call.method} on ${call.model}, ${sampling}, ${call.recorded.tokens.length || '?'} tokens): ${verdict}`,
  );
  output.line(color.dim(`     request ${call.requestId}`));
  if (call.engineDifferences.length > 0) {
    output.line(
      color.yellow(`     ran on another engine: ${call.engineDifferences.join('; ')} (identity not expected)`),
    );
  }
  const divergence = call.divergence;
  if (divergence === undefined) return;
  const token =
    divergence.tokenIndex === undefined
      ? ''
      : `, token ${divergence.tokenIndex} (recorded ${divergence.recordedToken ?? 'end'}, replayed ${divergence.replayedToken ?? 'end'})`;
  output.line(`     first difference at character ${divergence.characterIndex}${token}`);
  output.line(`     recorded: ${JSON.stringify(divergence.recordedSnippet)}`);
  output.line(`     replayed: ${JSON.stringify(divergence.replayedSnippet)}`);
  if (call.recorded.stopReason !== call.replayed.stopReason) {
    output.line(`     stopped: recorded ${call.recorded.stopReason}, replayed ${call.replayed.stopReason}`);
  }
}
