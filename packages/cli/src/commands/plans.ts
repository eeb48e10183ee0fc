import { decidePlan, listPlans, PLAN_STATES, type PlanState } from '@clawfleet/fleet-views';
import { ClawError } from '@clawfleet/protocol';
import { type Command, Option } from 'commander';
import type { CliRuntime } from '../cli-runtime.ts';
import { formatAge } from '../output/format.ts';
import { idArgument } from './arguments.ts';

export function registerPlans(program: Command, runtime: CliRuntime): void {
  program
    .command('plans')
    .description('plans for risky work that agents submitted for approval (pending ones by default)')
    .addOption(new Option('--state <state>', 'which plans').choices(PLAN_STATES).default('pending'))
    .option('--json', 'print the plans as JSON')
    .action(async (options: { state: string; json?: boolean }, command: Command) => {
      const context = runtime.context(command);
      await context.withConnection(async (connection) => {
        const plans = await listPlans(connection, options.state as PlanState);
        if (options.json) return context.output.json(plans);
        if (plans.length === 0) {
          return context.output.note(`no ${options.state === 'all' ? '' : `${options.state} `}plans`);
        }
        const { output } = context;
        for (const plan of plans) {
          const task = plan.task_id === null ? '' : ` for task #${plan.task_id}`;
          const tools = Array.isArray(plan.tools) && plan.tools.length > 0 ? ` using ${plan.tools.join(', ')}` : '';
          output.line(
            `${output.color.bold(`#${plan.id}`)} ${String(plan.agent)}${task}${tools} ${output.color.dim(`(${plan.state}, ${formatAge(plan.created_at)})`)}`,
          );
          output.line(`  ${String(plan.text)}`);
          if (plan.decided_by !== null) {
            output.line(
              output.color.dim(
                `  ${plan.state} by ${plan.decided_by}${plan.decision_reason ? `: ${plan.decision_reason}` : ''}`,
              ),
            );
          }
        }
        if (options.state === 'pending')
          output.note('decide with: claw approve <id> [reason] / claw reject <id> <reason>');
      });
    });

  program
    .command('approve')
    .description('approve a pending plan, so the agent may carry it out')
    .argument('<id>', 'the plan id', idArgument)
    .argument('[reason...]', 'why (optional)')
    .action(async (id: number, words: string[], _options: unknown, command: Command) => {
      const context = runtime.context(command);
      await context.withConnection(async (connection) => {
        const plan = await decidePlan(connection, id, true, words.join(' ').trim());
        context.output.line(`plan #${id} of ${plan} approved`);
      });
    });

  program
    .command('reject')
    .description('reject a pending plan; the agent is told why')
    .argument('<id>', 'the plan id', idArgument)
    .argument('<reason...>', 'why it is rejected (required: the agent reflects on it)')
    .action(async (id: number, words: string[], _options: unknown, command: Command) => {
      const context = runtime.context(command);
      const reason = words.join(' ').trim();
      if (reason === '')
        throw new ClawError('INVALID_PARAMS', 'Say why the plan is rejected: claw reject <id> <reason>');
      await context.withConnection(async (connection) => {
        const plan = await decidePlan(connection, id, false, reason);
        context.output.line(`plan #${id} of ${plan} rejected: ${reason}`);
      });
    });
}
