import { listAgents } from '@clawfleet/fleet-views';
import { AGENT_CONTROL_ACTIONS, type AgentControlAction } from '@clawfleet/protocol';
import type { Command } from 'commander';
import type { CliRuntime } from '../cli-runtime.ts';
import { formatAge } from '../output/format.ts';
import { requireAgentName } from './agents-lookup.ts';

const DONE: Record<AgentControlAction, string> = { restart: 'restarted', pause: 'paused', resume: 'resumed' };
const DESCRIPTION: Record<AgentControlAction, string> = {
  restart: 'stop the agent (drained) and start a fresh process at once; a given-up agent gets a new crash budget',
  pause: 'stop the agent (drained) and keep it stopped: the supervisor restarts nothing until resume',
  resume: 'start a paused agent again',
};

export function registerAgents(program: Command, runtime: CliRuntime): void {
  const agents = program
    .command('agents')
    .description('the agents the orchestrator supervises: state, restarts, process; restart, pause or resume one')
    .option('--json', 'print the agents as JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const context = runtime.context(command);
      context.requireOrchestrator('Supervising the agents');
      await context.withConnection(async (connection) => {
        const list = await listAgents(connection);
        if (options.json) return context.output.json(list);
        const { color } = context.output;
        context.output.table(
          ['agent', 'supervision', 'restarts', 'recent crashes', 'instance', 'online', 'heartbeat', 'model'],
          list.map((agent) => [
            agent.name,
            agent.supervision === null
              ? color.dim('not supervised')
              : agent.supervision.state === 'running'
                ? color.green('running')
                : color.yellow(agent.supervision.state),
            agent.supervision?.restarts ?? '-',
            agent.supervision?.recentCrashes ?? '-',
            agent.supervision?.instance ?? '-',
            agent.online ? 'yes' : 'no',
            formatAge(agent.lastHeartbeatAt),
            agent.modelId,
          ]),
        );
      });
    });

  for (const action of AGENT_CONTROL_ACTIONS) {
    agents
      .command(action)
      .description(DESCRIPTION[action])
      .argument('<name>', 'the agent')
      .option('--json', 'print the agent supervision state afterwards as JSON')
      .action(async (name: string, _options: unknown, command: Command) => {
        const context = runtime.context(command);
        // `agents` declares --json too, and commander gives an option to the command that declares it first.
        const options = command.optsWithGlobals<{ json?: boolean }>();
        context.requireOrchestrator(
          `${{ restart: 'Restarting', pause: 'Pausing', resume: 'Resuming' }[action]} an agent`,
        );
        await context.withConnection(async (connection) => {
          await requireAgentName(connection, name);
          if (action !== 'resume')
            context.output.note(`${action === 'pause' ? 'pausing' : 'restarting'} ${name}: draining its work`);
          const result = await connection.agentControl(name, action);
          if (options.json) return context.output.json(result);
          context.output.line(
            `${name} ${DONE[action]}: ${result.state}${result.instance ? ` (${result.instance})` : ''}, ${result.restarts} restart${result.restarts === 1 ? '' : 's'}`,
          );
        });
      });
  }
}
