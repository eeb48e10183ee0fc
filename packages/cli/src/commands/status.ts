import { fleetStatus } from '@clawfleet/fleet-views';
import type { Command } from 'commander';
import type { CliRuntime } from '../cli-runtime.ts';
import { formatAge, formatBytes, formatDuration } from '../output/format.ts';

export function registerStatus(program: Command, runtime: CliRuntime): void {
  program
    .command('status')
    .description('agents (status, current task, last heartbeat, tokens used), the slot pool and the bus')
    .option('--json', 'print the status as JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const context = runtime.context(command);
      await context.withConnection(async (connection) => {
        const { orchestrator: status, agents: agentStatus } = await fleetStatus(connection);
        if (options.json) {
          context.output.json({ orchestrator: status, agents: agentStatus });
          return;
        }
        const { output } = context;
        const { color } = output;
        output.line(color.bold('Orchestrator'));
        output.fields([
          ['pid', status.pid],
          ['up for', formatDuration(Date.now() - status.startedAt)],
          ['socket', status.socketPath],
          ['data', status.dataDirectory],
          ['gpu', status.gpu],
          [
            'agents run',
            status.runtime === 'docker'
              ? 'as containers (docker runtime)'
              : status.runtime === 'process'
                ? 'as processes (process runtime)'
                : (status.runtime ?? 'not started by this orchestrator'),
          ],
        ]);
        output.line();
        output.line(color.bold('Agents'));
        output.table(
          [
            'agent',
            'role',
            'state',
            'instance',
            'restarts',
            'online',
            'phase',
            'progress',
            'queue',
            'task',
            'heartbeat',
            'tokens',
          ],
          agentStatus.map((agent) => [
            agent.name,
            agent.role,
            agent.supervision === null
              ? color.dim('-')
              : agent.supervision.state === 'running'
                ? color.green('running')
                : color.yellow(agent.supervision.state),
            agent.supervision?.instance === undefined
              ? '-'
              : `${agent.supervision.instance}${agent.supervision.adopted ? ' (adopted)' : ''}`,
            agent.supervision?.restarts ?? '-',
            agent.online ? color.green('yes') : color.yellow('no'),
            agent.phase ?? agent.status,
            agent.progress ?? '-',
            agent.queueLength,
            agent.currentTask ? `#${agent.currentTask.id} ${agent.currentTask.title}` : '-',
            formatAge(agent.lastHeartbeatAt),
            agent.tokensUsed,
          ]),
        );
        output.line();
        output.line(color.bold('Slot pool'));
        const pool = status.pool;
        output.fields([
          ['running', `${pool.running} of ${pool.maxConcurrent} at once`],
          [
            'queued',
            `${pool.queued}${
              pool.queuedByPriority
                ? ` (${Object.entries(pool.queuedByPriority)
                    .map(([priority, count]) => `${priority} ${count}`)
                    .join(', ')})`
                : ''
            }`,
          ],
          ...(pool.embeddings
            ? ([
                [
                  'embeddings',
                  `${pool.embeddings.running} of ${pool.embeddings.maxConcurrent} running, ${pool.embeddings.queued} queued`,
                ],
              ] as [string, unknown][])
            : []),
          ['memory', `${formatBytes(pool.reservedBytes)} reserved of ${formatBytes(pool.budgetBytes)} budget`],
        ]);
        output.table(
          ['model', 'state', 'slots busy', 'memory'],
          pool.models.map((model) => [
            model.id,
            model.state,
            `${model.busySlots}/${model.slots}`,
            formatBytes(model.reservedBytes),
          ]),
        );
        output.line();
        output.line(color.bold('Bus'));
        output.fields([
          ['host', status.bus.host],
          ['database', status.bus.location],
          ['size', status.bus.sizeBytes === undefined ? '-' : formatBytes(status.bus.sizeBytes)],
        ]);
      });
    });
}
