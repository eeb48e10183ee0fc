import { setTimeout as sleep } from 'node:timers/promises';
import { ClawError } from '@clawfleet/protocol';
import type { Command } from 'commander';
import type { CliRuntime } from '../cli-runtime.ts';
import { OrchestratorConnection } from '../connection/orchestrator-connection.ts';
import { isAlive, readLivePid, removePidFile } from '../process/data-files.ts';
import type { CliSettings } from '../settings/cli-settings.ts';
import { durationArgument } from './arguments.ts';

export function registerDown(program: Command, runtime: CliRuntime): void {
  program
    .command('down')
    .description('stop the running orchestrator and wait until it has drained and exited')
    .option('--timeout <duration>', 'how long to wait for it to exit', durationArgument, 60_000)
    .option('--force', 'if it has not exited by the timeout, kill it (SIGKILL)')
    .action(async (options: { timeout: number; force?: boolean }, command: Command) => {
      const context = runtime.context(command);
      const pid = await findPid(context.settings);
      context.output.note(`stopping the orchestrator (pid ${pid}): draining in-flight work`);
      process.kill(pid, 'SIGTERM');
      const deadline = Date.now() + options.timeout;
      while (isAlive(pid)) {
        if (Date.now() > deadline) {
          if (options.force) {
            process.kill(pid, 'SIGKILL');
            context.output.note(`killed pid ${pid} after ${Math.round(options.timeout / 1000)} s`);
            break;
          }
          throw new ClawError(
            'TIMEOUT',
            `The orchestrator (pid ${pid}) is still running after ${Math.round(options.timeout / 1000)} s; wait longer with --timeout, or add --force`,
          );
        }
        await sleep(100);
      }
      removePidFile(context.settings);
      context.output.line(`orchestrator stopped (pid ${pid})`);
    });
}

/** Asks the orchestrator for its pid (whoever started it); falls back to `claw up --detach`'s pid file. */
async function findPid(settings: CliSettings): Promise<number> {
  try {
    const connection = await OrchestratorConnection.connect(settings, { timeoutMs: 2000 });
    try {
      return (await connection.status()).pid;
    } finally {
      await connection.close();
    }
  } catch (error) {
    const pid = readLivePid(settings);
    if (pid !== undefined) return pid;
    removePidFile(settings);
    throw error;
  }
}
