/**
 * The agent's wake-up queue, derived from the database rows in the client cache rather than held in
 * memory: an event is a trigger this agent may handle and has no cycle for yet, or one of its own
 * cycles that can move on (resumed after a restart, due after a deferral, its plan decided). Many
 * row changes while the agent is busy coalesce: when it is free it computes the queue once, in
 * priority order. A restart loses nothing, because nothing lived only in the process.
 */
import type { WakeUpScope } from '@clawfleet/agents';
import type { BusRow } from '@clawfleet/bus-client';
import { type CycleRecord, type LoopBus, toPlan, toTask } from '../bus/loop-bus.ts';

export type WakeEventKind = 'stimulus' | 'task' | 'message' | 'attention' | 'plan';

/** A trigger with no cycle yet. */
export interface NewWakeEvent {
  readonly type: 'new';
  readonly kind: WakeEventKind;
  /** The cycle's trigger key: `stimulus:12`, `task:5:1`, ... */
  readonly key: string;
  readonly text: string;
  readonly priority: number;
  readonly createdAtMicros: number;
  readonly taskId?: number;
  readonly stimulusId?: number;
  readonly messageId?: number;
}

/** One of the agent's own unfinished cycles that can continue. */
export interface ResumeWakeEvent {
  readonly type: 'resume';
  readonly cycle: CycleRecord;
  readonly priority: number;
  readonly createdAtMicros: number;
}

export type WakeEvent = NewWakeEvent | ResumeWakeEvent;

const number = (value: unknown): number => (typeof value === 'bigint' ? Number(value) : Number(value ?? 0));
const TAG = /#([a-z][a-z0-9_-]*)/g;

/** `#tags` written in a task's title or description. */
export function taskTags(title: string, description: string): string[] {
  return [...`${title} ${description}`.toLowerCase().matchAll(TAG)].map((match) => match[1]!);
}

export interface WakeUpQueueOptions {
  agent: string;
  scope: WakeUpScope;
  /** Whether pending plans of other agents wake this agent (plan approvers). */
  approvesPlans: boolean;
  /** This agent's identity (hex): stimuli it created itself do not wake it. */
  identity: string;
}

/** Events of `agent` in the order it should handle them: resumptions first, then priority, then age. */
export function computeWakeUpQueue(bus: LoopBus, options: WakeUpQueueOptions): WakeEvent[] {
  const { agent, scope } = options;
  const cycles = bus.cycles();
  const handled = new Set(cycles.map((cycle) => cycle.triggerKey));
  const events: WakeEvent[] = [];
  const plans = bus.plans();

  for (const cycle of cycles) {
    if (cycle.phase === 'done' || cycle.phase === 'deferred') continue;
    if (cycle.phase === 'awaiting_approval') {
      const plan = plans
        .filter((candidate) => candidate.cycleId === cycle.id && candidate.agent === agent)
        .sort((a, b) => b.id - a.id)[0];
      if (plan === undefined || plan.state === 'pending') continue;
    }
    events.push({ type: 'resume', cycle, priority: cycle.priority, createdAtMicros: cycle.startedAtMicros });
  }

  const kindMatches = (kind: string) => scope.stimulusKinds.includes('*') || scope.stimulusKinds.includes(kind);
  for (const row of bus.rows('stimulus')) {
    const key = `stimulus:${number(row.id)}`;
    if (handled.has(key)) continue;
    const target = row.target_agent === null || row.target_agent === undefined ? null : String(row.target_agent);
    if (target !== null && target !== agent) continue;
    if (target === null && (!kindMatches(String(row.kind)) || row.created_by === options.identity)) continue;
    events.push({
      type: 'new',
      kind: 'stimulus',
      key,
      text: `[${String(row.source)}/${String(row.kind)}] ${String(row.text)}`,
      priority: number(row.priority),
      createdAtMicros: number(row.created_at),
      stimulusId: number(row.id),
    });
  }

  const anyTag = scope.taskTags.includes('*');
  for (const task of bus.rows('task').map(toTask)) {
    if (task.state !== 'queued') continue;
    if (task.reservedFor !== null && task.reservedFor !== agent) continue;
    if (task.reservedFor === null && !anyTag) {
      const tags = taskTags(task.title, task.description);
      if (!tags.some((tag) => scope.taskTags.includes(tag))) continue;
    }
    const key = `task:${task.id}:${task.attempts}`;
    if (handled.has(key)) continue;
    events.push({
      type: 'new',
      kind: 'task',
      key,
      text: `Task ${task.id}: ${task.title}${task.description.length > 0 ? `\n${task.description}` : ''}`,
      // A task reserved for this agent (a hand-off) outranks one it merely may take.
      priority: Math.min(9, task.priority + (task.reservedFor === agent ? 1 : 0)),
      createdAtMicros: task.createdAtMicros,
      taskId: task.id,
    });
  }

  for (const row of bus.rows('visible_message')) {
    const from = String(row.from_agent);
    if (from === agent || row.kind === 'handoff') continue;
    const mentions = Array.isArray(row.mentions) ? row.mentions.map(String) : [];
    if (row.to_agent !== agent && !mentions.includes(agent)) continue;
    const key = `message:${number(row.id)}`;
    if (handled.has(key)) continue;
    events.push({
      type: 'new',
      kind: 'message',
      key,
      text: `Message from ${from}: ${String(row.text)}`,
      priority: 5,
      createdAtMicros: number(row.created_at),
      messageId: number(row.id),
    });
  }

  for (const row of bus.rows('attention_request')) {
    if (row.agent !== agent || (row.state !== 'resolved' && row.state !== 'expired')) continue;
    const key = `attention:${number(row.id)}`;
    if (handled.has(key)) continue;
    events.push({
      type: 'new',
      kind: 'attention',
      key,
      text: `Your attention request "${String(row.text)}" was ${String(row.state)}: ${String(row.resolution ?? '')}`,
      priority: number(row.priority),
      createdAtMicros: number(row.resolved_at ?? row.created_at),
    });
  }

  if (options.approvesPlans) {
    for (const plan of bus.rows('plan').map(toPlan)) {
      if (plan.state !== 'pending' || plan.agent === agent) continue;
      const key = `plan:${plan.id}`;
      if (handled.has(key)) continue;
      events.push({
        type: 'new',
        kind: 'plan',
        key,
        text: `Plan ${plan.id} from ${plan.agent} awaits approval:\n${plan.text}`,
        priority: 6,
        createdAtMicros: plan.createdAtMicros,
      });
    }
  }

  return events.sort(compareEvents);
}

function compareEvents(a: WakeEvent, b: WakeEvent): number {
  if (a.type !== b.type) return a.type === 'resume' ? -1 : 1;
  if (a.priority !== b.priority) return b.priority - a.priority;
  return a.createdAtMicros - b.createdAtMicros;
}

/** Tables whose changes can change the queue: a change to any of them wakes the loop. */
export const WAKE_TABLES: ReadonlySet<string> = new Set([
  'stimulus',
  'task',
  'visible_message',
  'attention_request',
  'plan',
  'cycle',
]);

export type { BusRow };
