import { agentRows, fleetStatus } from '@clawfleet/fleet-views';
import type { Command } from 'commander';
import type { CliRuntime } from '../cli-runtime.ts';
import type { CommandContext, DataConnection } from '../command-context.ts';
import { formatAge, formatBytes, formatDuration } from '../output/format.ts';
import type { CliSettings } from '../settings/cli-settings.ts';

export function registerStatus(program: Command, runtime: CliRuntime): void {
  program
    .command('status')
    .description('agents (status, current task, last heartbeat, tokens used), the slot pool and the bus')
    .option('--json', 'print the status as JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const context = runtime.context(command);
      const server = context.settings.dataServer;
      if (server !== undefined) {
        await context.withConnection((connection) => databaseStatus(context, connection, server, options.json));
        return;
      }
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
            'last restart',
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
            agent.supervision?.lastRestartReason ?? '-',
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

/**
 * `claw status --server`: what the database holds about the fleet (agents, their loop, tasks, tokens),
 * without the orchestrator's own state (process, slot pool, supervision), which only it knows.
 */
async function databaseStatus(
  context: CommandContext,
  connection: DataConnection,
  server: NonNullable<CliSettings['dataServer']>,
  json: boolean | undefined,
): Promise<void> {
  const [agents, claimed, phases, usage] = await Promise.all([
    agentRows(connection),
    connection.query('task', { state: 'claimed' }),
    connection.query('agent_status'),
    connection.query('inference_usage'),
  ]);
  const tokens = new Map<string, number>();
  for (const row of usage) {
    const agent = String(row.agent);
    tokens.set(agent, (tokens.get(agent) ?? 0) + Number(row.prompt_tokens) + Number(row.completion_tokens));
  }
  const agentStatus = agents.map((agent) => {
    const loop = phases.find((row) => row.agent === agent.name);
    const task = claimed.find((row) => row.owner === agent.name);
    return {
      name: String(agent.name),
      role: String(agent.role),
      online: agent.online === true,
      status: String(agent.status),
      phase: loop ? String(loop.phase) : null,
      progress: loop ? String(loop.progress) : null,
      queueLength: loop ? Number(loop.queue_length) : 0,
      currentTask: task ? { id: task.id, title: task.title } : null,
      lastHeartbeatAt: agent.last_heartbeat_at,
      tokensUsed: tokens.get(String(agent.name)) ?? 0,
    };
  });
  const bus = { host: 'spacetimedb', server: server.url, database: server.database };
  if (json) {
    context.output.json({ bus, agents: agentStatus });
    return;
  }
  const { output } = context;
  const { color } = output;
  output.line(color.bold('Agents'));
  output.table(
    ['agent', 'role', 'online', 'phase', 'progress', 'queue', 'task', 'heartbeat', 'tokens'],
    agentStatus.map((agent) => [
      agent.name,
      agent.role,
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
  output.line(color.bold('Bus'));
  output.fields([
    ['host', bus.host],
    ['server', bus.server],
    ['database', bus.database],
  ]);
  output.note(
    'The orchestrator (process, slot pool, supervision) is not in the database: `claw status` without --server shows it.',
  );
}
