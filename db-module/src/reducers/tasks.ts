import { ScheduleAt, t } from 'spacetimedb';
import type { ReducerContext } from '../context.ts';
import { type TaskRow, taskLeaseSchedule } from '../tables.ts';
import { defineReducer, type ReducerDefinition } from './define-reducer.ts';
import {
  addSeconds,
  isAdmin,
  LIMITS,
  reject,
  requireAgent,
  requireDatabase,
  requireMaxLength,
  requireRange,
  requireRegisteredAgentName,
  requireTask,
  requireText,
} from './guards.ts';
import { fireReactions } from './hooks.ts';
import { FINAL_TASK_STATES } from './task-states.ts';

/** Unfinished dependencies of a task, in id order. */
function pendingDependencies(ctx: ReducerContext, taskId: bigint): bigint[] {
  const pending: bigint[] = [];
  for (const dependency of ctx.db.task_dependency.task_id.filter(taskId)) {
    const target = ctx.db.task.id.find(dependency.depends_on_task_id);
    if (target !== null && target.state !== 'completed') pending.push(target.id);
  }
  return pending.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function requireOwnedClaim(ctx: ReducerContext, taskId: bigint, action: string): TaskRow {
  const agent = requireAgent(ctx, action);
  const task = requireTask(ctx, taskId);
  if (task.state !== 'claimed') reject(`Task ${taskId} is ${task.state}, not claimed; cannot ${action}`);
  if (task.owner !== agent.name)
    reject(`Task ${taskId} is owned by ${task.owner}, not ${agent.name}; cannot ${action}`);
  return task;
}

function scheduleLeaseCheck(ctx: ReducerContext, taskId: bigint, at: bigint): void {
  ctx.db.task_lease_schedule.insert({ scheduled_id: 0n, scheduled_at: ScheduleAt.time(at), task_id: taskId });
}

/** Puts a task back in the queue, keeping any reservation. */
function requeue(ctx: ReducerContext, task: TaskRow, reservedFor: string | undefined = task.reserved_for): TaskRow {
  return ctx.db.task.id.update({
    ...task,
    state: 'queued',
    owner: undefined,
    lease_expires_at: undefined,
    reserved_for: reservedFor,
    updated_at: ctx.timestamp,
  });
}

export const createTask = defineReducer(
  {
    title: t.string(),
    description: t.string(),
    priority: t.u8(),
    depends_on: t.array(t.u64()),
    stimulus_id: t.option(t.u64()),
    reserved_for: t.option(t.string()),
  },
  (ctx, { title, description, priority, depends_on, stimulus_id, reserved_for }) => {
    if (!isAdmin(ctx) && ctx.db.agent.identity.find(ctx.sender) === null) {
      reject('Only an admin or a registered agent may create tasks');
    }
    requireText('title', title, LIMITS.titleLength);
    requireMaxLength('description', description, LIMITS.textLength);
    requireRange('priority', priority, 0, LIMITS.maxPriority);
    if (depends_on.length > LIMITS.maxDependencies) {
      reject(`Expected \`depends_on\` to list at most ${LIMITS.maxDependencies} tasks, got ${depends_on.length}`);
    }
    if (new Set(depends_on).size !== depends_on.length) reject('Expected `depends_on` to list each task once');
    let blocked = false;
    for (const dependencyId of depends_on) {
      const dependency = ctx.db.task.id.find(dependencyId);
      if (dependency === null) reject(`Dependency task ${dependencyId} does not exist`);
      if (dependency.state === 'failed' || dependency.state === 'cancelled') {
        reject(`Dependency task ${dependencyId} is ${dependency.state} and can never complete`);
      }
      if (dependency.state !== 'completed') blocked = true;
    }
    if (stimulus_id !== undefined && ctx.db.stimulus.id.find(stimulus_id) === null) {
      reject(`Stimulus ${stimulus_id} does not exist`);
    }
    if (reserved_for !== undefined) requireRegisteredAgentName(ctx, 'reserved_for', reserved_for);
    const task = ctx.db.task.insert({
      id: 0n,
      title,
      description,
      priority,
      state: blocked ? 'blocked' : 'queued',
      created_by: ctx.sender,
      stimulus_id,
      reserved_for,
      owner: undefined,
      lease_expires_at: undefined,
      attempts: 0,
      result: undefined,
      created_at: ctx.timestamp,
      updated_at: ctx.timestamp,
    });
    for (const dependencyId of depends_on) {
      ctx.db.task_dependency.insert({ id: 0n, task_id: task.id, depends_on_task_id: dependencyId });
    }
  },
);

/**
 * Claims a queued task for the calling agent. Atomic in both hosts because a reducer is one
 * serialisable transaction: of two simultaneous claims the second sees `claimed` and is rejected.
 */
export const claimTask = defineReducer(
  { task_id: t.u64(), lease_seconds: t.u32() },
  (ctx, { task_id, lease_seconds }) => {
    const agent = requireAgent(ctx, 'claim tasks');
    requireRange('lease_seconds', lease_seconds, 1, LIMITS.maxLeaseSeconds);
    const task = requireTask(ctx, task_id);
    if (task.state === 'blocked') {
      reject(`Task ${task_id} is blocked by unfinished dependencies ${pendingDependencies(ctx, task_id).join(', ')}`);
    }
    if (task.state === 'claimed') reject(`Task ${task_id} is already claimed by ${task.owner}`);
    if (task.state !== 'queued') reject(`Task ${task_id} is ${task.state} and cannot be claimed`);
    if (task.reserved_for !== undefined && task.reserved_for !== agent.name) {
      reject(`Task ${task_id} is reserved for ${task.reserved_for}`);
    }
    const leaseExpiresAt = addSeconds(ctx.timestamp, lease_seconds);
    ctx.db.task.id.update({
      ...task,
      state: 'claimed',
      owner: agent.name,
      lease_expires_at: leaseExpiresAt,
      attempts: task.attempts + 1,
      updated_at: ctx.timestamp,
    });
    scheduleLeaseCheck(ctx, task_id, leaseExpiresAt.microsSinceUnixEpoch);
  },
);

/** Heartbeat for a claim: moves the lease expiry to now + lease_seconds. */
export const extendTaskLease = defineReducer(
  { task_id: t.u64(), lease_seconds: t.u32() },
  (ctx, { task_id, lease_seconds }) => {
    requireRange('lease_seconds', lease_seconds, 1, LIMITS.maxLeaseSeconds);
    const task = requireOwnedClaim(ctx, task_id, 'extend the lease');
    ctx.db.task.id.update({
      ...task,
      lease_expires_at: addSeconds(ctx.timestamp, lease_seconds),
      updated_at: ctx.timestamp,
    });
    // The pending schedule row fires at the old expiry, sees the later lease and reschedules itself.
  },
);

export const completeTask = defineReducer({ task_id: t.u64(), result: t.string() }, (ctx, { task_id, result }) => {
  const task = requireOwnedClaim(ctx, task_id, 'complete it');
  requireMaxLength('result', result, LIMITS.textLength);
  ctx.db.task.id.update({
    ...task,
    state: 'completed',
    result,
    lease_expires_at: undefined,
    updated_at: ctx.timestamp,
  });
  // Unblock dependents whose last unfinished dependency this was.
  for (const dependent of [...ctx.db.task_dependency.depends_on_task_id.filter(task_id)]) {
    const blockedTask = ctx.db.task.id.find(dependent.task_id);
    if (blockedTask === null || blockedTask.state !== 'blocked') continue;
    if (pendingDependencies(ctx, blockedTask.id).length === 0) {
      ctx.db.task.id.update({ ...blockedTask, state: 'queued', updated_at: ctx.timestamp });
    }
  }
  fireReactions(ctx, 'task_completed', {
    kind: 'task',
    id: task_id,
    causedBy: task.owner,
    text: `Task ${task_id} "${task.title}" completed by ${task.owner}: ${result}`,
  });
});

/** Dependents of a failed task stay blocked until an admin or their creator cancels them. */
export const failTask = defineReducer({ task_id: t.u64(), reason: t.string() }, (ctx, { task_id, reason }) => {
  const task = requireOwnedClaim(ctx, task_id, 'fail it');
  requireText('reason', reason, LIMITS.textLength);
  ctx.db.task.id.update({
    ...task,
    state: 'failed',
    result: reason,
    lease_expires_at: undefined,
    updated_at: ctx.timestamp,
  });
  fireReactions(ctx, 'task_failed', {
    kind: 'task',
    id: task_id,
    causedBy: task.owner,
    text: `Task ${task_id} "${task.title}" failed (owner ${task.owner}): ${reason}`,
  });
});

/** The owner gives the task back to the queue unfinished. */
export const releaseTask = defineReducer({ task_id: t.u64() }, (ctx, { task_id }) => {
  const task = requireOwnedClaim(ctx, task_id, 'release it');
  requeue(ctx, task);
});

/**
 * Cancels a task that is not final. Allowed for an admin; for the owner of a claimed task; for the
 * creator of a task nobody holds (queued or blocked).
 */
export const cancelTask = defineReducer({ task_id: t.u64(), reason: t.string() }, (ctx, { task_id, reason }) => {
  const admin = isAdmin(ctx);
  const caller = ctx.db.agent.identity.find(ctx.sender);
  if (!admin && caller === null) reject('Only an admin or a registered agent may cancel tasks');
  requireText('reason', reason, LIMITS.textLength);
  const task = requireTask(ctx, task_id);
  if (FINAL_TASK_STATES.includes(task.state)) reject(`Task ${task_id} is already ${task.state}`);
  if (!admin) {
    if (task.state === 'claimed' && task.owner !== caller?.name) {
      reject(`Task ${task_id} is owned by ${task.owner}; only its owner or an admin may cancel it`);
    }
    if (task.state !== 'claimed' && !task.created_by.isEqual(ctx.sender)) {
      reject(`Task ${task_id} was created by someone else; only its creator or an admin may cancel it`);
    }
  }
  ctx.db.task.id.update({
    ...task,
    state: 'cancelled',
    result: reason,
    owner: undefined,
    lease_expires_at: undefined,
    updated_at: ctx.timestamp,
  });
});

/** Hands a claimed task to another agent: it is requeued reserved for them, with a message to them. */
export const handOffTask = defineReducer(
  { task_id: t.u64(), to_agent: t.string(), note: t.string() },
  (ctx, { task_id, to_agent, note }) => {
    const task = requireOwnedClaim(ctx, task_id, 'hand it off');
    const target = requireRegisteredAgentName(ctx, 'to_agent', to_agent);
    if (target.name === task.owner) reject('Cannot hand a task off to its own owner');
    requireText('note', note, LIMITS.textLength);
    requeue(ctx, task, target.name);
    ctx.db.message.insert({
      id: 0n,
      kind: 'handoff',
      from_agent: task.owner ?? '',
      to_agent: target.name,
      text: note,
      mentions: [target.name],
      task_id,
      created_at: ctx.timestamp,
    });
  },
);

/** Scheduled: returns a task whose lease ran out to the queue; reschedules itself if the lease was extended. */
export const expireTaskLease: ReducerDefinition<{ schedule: typeof taskLeaseSchedule.rowType }> = defineReducer(
  { schedule: taskLeaseSchedule.rowType },
  (ctx, { schedule }) => {
    requireDatabase(ctx, 'expire_task_lease');
    const task = ctx.db.task.id.find(schedule.task_id);
    if (task === null || task.state !== 'claimed' || task.lease_expires_at === undefined) return;
    const expiresAt = task.lease_expires_at.microsSinceUnixEpoch;
    if (expiresAt > ctx.timestamp.microsSinceUnixEpoch) {
      scheduleLeaseCheck(ctx, task.id, expiresAt);
      return;
    }
    requeue(ctx, task);
  },
  'scheduled',
);
