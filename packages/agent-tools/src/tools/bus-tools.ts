import type { BusRow, BusTableName } from '@clawfleet/bus-client';
import { ClawError } from '@clawfleet/protocol';
import { z } from 'zod';
import { type AnyAgentTool, defineTool, type ToolContext } from '../tool.ts';

/**
 * The bus tools. Each is one reducer call made as the agent, so the database decides what the
 * agent may do (complete only its own task, message only registered agents...) and a refusal
 * comes back as REDUCER_REJECTED with the reducer's reason, which the model reads as its next
 * observation.
 */

const agentName = z.string().min(1).max(64);
const id = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
const priority = z.number().int().min(0).max(9);

/** The task a call is about: the one given, or the cycle's task. */
function taskOf(given: number | undefined, context: ToolContext): number {
  const taskId = given ?? context.taskId;
  if (taskId === undefined) {
    throw new ClawError('TOOL_ARGS_INVALID', 'No `taskId` given and this cycle works on no task', {
      details: { path: 'taskId' },
    });
  }
  return taskId;
}

/**
 * The id of a row the agent just created, when its cache holds the table (the runtime subscribes
 * to tasks and its own plans). Reducers return nothing, so this is the newest matching row; it is
 * reported to the model as a convenience and is `null` when the table is not cached.
 */
function newestId(rows: readonly BusRow[], matches: (row: BusRow) => boolean): number | null {
  let newest: number | null = null;
  for (const row of rows) {
    if (!matches(row) || typeof row.id !== 'number') continue;
    if (newest === null || row.id > newest) newest = row.id;
  }
  return newest;
}

function cachedRows(context: ToolContext, table: BusTableName): readonly BusRow[] {
  try {
    return context.bus.rows(table);
  } catch {
    return [];
  }
}

export function createBusTools(): AnyAgentTool[] {
  const sendMessage = defineTool({
    name: 'message.send',
    description:
      'Send a message: to one agent (`to`), or to every agent when `to` is left out. Writing @Name in the text also reaches that agent.',
    argsSchema: z.strictObject({ to: agentName.optional(), text: z.string().min(1).max(8_000) }),
    sideEffect: true,
    async run(args, context) {
      await context.bus.reducers.sendMessage(
        { to_agent: args.to ?? null, text: args.text },
        { signal: context.signal },
      );
      const mentions = [...args.text.matchAll(/@([A-Za-z][A-Za-z0-9_-]*)/g)].map((match) => match[1] as string);
      return {
        output: { to: args.to ?? null, kind: args.to === undefined ? 'broadcast' : 'direct', mentions },
        text: args.to === undefined ? 'Broadcast sent' : `Message sent to ${args.to}`,
      };
    },
  });

  const createTask = defineTool({
    name: 'task.create',
    description:
      'Create a task. `dependsOn` lists task ids that must complete first; `reservedFor` names the only agent that may claim it.',
    argsSchema: z.strictObject({
      title: z.string().min(1).max(200),
      description: z.string().max(8_000).default(''),
      priority: priority.default(5),
      dependsOn: z.array(id).max(16).default([]),
      reservedFor: agentName.optional(),
    }),
    sideEffect: true,
    async run(args, context) {
      await context.bus.reducers.createTask(
        {
          title: args.title,
          description: args.description,
          priority: args.priority,
          depends_on: args.dependsOn,
          stimulus_id: null,
          reserved_for: args.reservedFor ?? null,
        },
        { signal: context.signal },
      );
      const taskId = newestId(
        cachedRows(context, 'task'),
        (row) => row.title === args.title && row.created_by === context.bus.identity,
      );
      return {
        output: { taskId, title: args.title, dependsOn: args.dependsOn, reservedFor: args.reservedFor ?? null },
        text: `Created task${taskId === null ? '' : ` ${taskId}`} "${args.title}"${
          args.reservedFor === undefined ? '' : ` for ${args.reservedFor}`
        }`,
      };
    },
  });

  const handOff = defineTool({
    name: 'task.hand_off',
    description: 'Hand a task you hold to another agent with a note; it goes back to the queue reserved for them.',
    argsSchema: z.strictObject({ taskId: id.optional(), to: agentName, note: z.string().min(1).max(8_000) }),
    sideEffect: true,
    async run(args, context) {
      const taskId = taskOf(args.taskId, context);
      await context.bus.reducers.handOffTask(
        { task_id: taskId, to_agent: args.to, note: args.note },
        { signal: context.signal },
      );
      return { output: { taskId, to: args.to }, text: `Task ${taskId} handed to ${args.to}` };
    },
  });

  const complete = defineTool({
    name: 'task.complete',
    description: 'Complete a task you hold (the cycle task when `taskId` is left out), with its result.',
    argsSchema: z.strictObject({ taskId: id.optional(), result: z.string().max(8_000) }),
    sideEffect: true,
    async run(args, context) {
      const taskId = taskOf(args.taskId, context);
      await context.bus.reducers.completeTask({ task_id: taskId, result: args.result }, { signal: context.signal });
      return { output: { taskId, state: 'completed' }, text: `Task ${taskId} completed` };
    },
  });

  const fail = defineTool({
    name: 'task.fail',
    description: 'Fail a task you hold (the cycle task when `taskId` is left out), saying why.',
    argsSchema: z.strictObject({ taskId: id.optional(), reason: z.string().min(1).max(8_000) }),
    sideEffect: true,
    async run(args, context) {
      const taskId = taskOf(args.taskId, context);
      await context.bus.reducers.failTask({ task_id: taskId, reason: args.reason }, { signal: context.signal });
      return { output: { taskId, state: 'failed' }, text: `Task ${taskId} failed: ${args.reason}` };
    },
  });

  const requestAttention = defineTool({
    name: 'attention.request',
    description:
      'Ask a human for attention. If nobody answers within `expiresInSeconds`, `defaultAction` is taken as the answer.',
    argsSchema: z.strictObject({
      text: z.string().min(1).max(8_000),
      priority: priority.default(5),
      defaultAction: z.string().min(1).max(200),
      expiresInSeconds: z
        .number()
        .int()
        .min(60)
        .max(7 * 24 * 3_600)
        .default(3_600),
    }),
    sideEffect: true,
    async run(args, context) {
      await context.bus.reducers.requestAttention(
        {
          text: args.text,
          priority: args.priority,
          default_action: args.defaultAction,
          expires_in_seconds: args.expiresInSeconds,
        },
        { signal: context.signal },
      );
      return {
        output: { priority: args.priority, expiresInSeconds: args.expiresInSeconds },
        text: `Attention requested (priority ${args.priority}); default action if unanswered: ${args.defaultAction}`,
      };
    },
  });

  const submitPlan = defineTool({
    name: 'plan.submit',
    description:
      'Submit a plan for approval before risky work: what you will do and which tools that need approval you will use.',
    argsSchema: z.strictObject({
      text: z.string().min(1).max(8_000),
      tools: z.array(z.string().min(1).max(64)).max(32).default([]),
    }),
    sideEffect: true,
    async run(args, context) {
      await context.bus.reducers.submitPlan(
        { cycle_id: context.cycleId, text: args.text, tools: args.tools },
        { signal: context.signal },
      );
      const planId = newestId(
        cachedRows(context, 'plan'),
        (row) => row.agent === context.agent && row.cycle_id === context.cycleId,
      );
      return {
        output: { planId, tools: args.tools },
        text: `Plan${planId === null ? '' : ` ${planId}`} submitted for approval`,
      };
    },
  });

  const decidePlan = defineTool({
    name: 'plan.decide',
    description: "Approve or reject another agent's pending plan, with the reason.",
    argsSchema: z.strictObject({ planId: id, approve: z.boolean(), reason: z.string().min(1).max(2_000) }),
    sideEffect: true,
    async run(args, context) {
      await context.bus.reducers.decidePlan(
        { plan_id: args.planId, approve: args.approve, reason: args.reason },
        { signal: context.signal },
      );
      return {
        output: { planId: args.planId, approved: args.approve },
        text: `Plan ${args.planId} ${args.approve ? 'approved' : 'rejected'}`,
      };
    },
  });

  return [sendMessage, createTask, handOff, complete, fail, requestAttention, submitPlan, decidePlan];
}
