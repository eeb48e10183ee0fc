import type { BusClient, BusRow } from '@clawfleet/bus-client';
import { ClawError } from '@clawfleet/protocol';
import type { Output } from '../output/output.ts';

/** Cycle phases in which a cycle has stopped moving on its own. */
const RESTING_PHASES = new Set(['done', 'deferred']);

/** What `claw stimulus --wait` saw happen to one stimulus, in order. */
export interface StimulusTrail {
  stimulusId: number;
  cycles: BusRow[];
  toolCalls: BusRow[];
  reflections: BusRow[];
  /** True when every cycle came to rest and every acting cycle reflected; false on timeout. */
  complete: boolean;
}

export interface FollowOptions {
  timeoutMs: number;
  output: Output;
  /** Print each step as it happens (false with --json: only the final trail). */
  live: boolean;
  signal?: AbortSignal;
}

/**
 * Follows one stimulus live through subscriptions (never polling): the cycles it started
 * (`stimulus:<id>`) and the cycles of tasks created for it, their triage, tool calls, phases and
 * reflections. It ends when at least one cycle exists, every such cycle is done or deferred, and
 * every cycle that acted or delegated has its reflection (linked to the cycle through memory_link).
 */
export async function followStimulus(
  bus: BusClient,
  stimulusId: number,
  options: FollowOptions,
): Promise<StimulusTrail> {
  const { output } = options;
  const { color } = output;
  const printed = new Set<string>();
  const say = (key: string, text: string): void => {
    if (printed.has(key)) return;
    printed.add(key);
    if (options.live) output.line(text);
  };
  let wake: () => void = () => {};
  const changed = (): void => wake();

  const subscription = bus.subscribe(
    [
      'SELECT * FROM cycle',
      'SELECT * FROM tool_call',
      'SELECT * FROM reflection',
      "SELECT * FROM memory_link WHERE target_kind = 'cycle'",
      'SELECT * FROM task',
    ],
    { onInsert: changed, onUpdate: changed, onDelete: changed },
  );
  await subscription.ready;
  try {
    const deadline = Date.now() + options.timeoutMs;
    for (;;) {
      const taskIds = new Set(
        bus
          .rows('task')
          .filter((task) => Number(task.stimulus_id) === stimulusId)
          .map((task) => Number(task.id)),
      );
      const cycles = bus
        .rows('cycle')
        .filter((cycle) => {
          const key = String(cycle.trigger_key);
          if (key === `stimulus:${stimulusId}`) return true;
          const [kind, id] = key.split(':');
          return kind === 'task' && taskIds.has(Number(id));
        })
        .sort((a, b) => Number(a.id) - Number(b.id));
      const cycleIds = new Set(cycles.map((cycle) => Number(cycle.id)));
      const toolCalls = bus
        .rows('tool_call')
        .filter((call) => cycleIds.has(Number(call.cycle_id)))
        .sort((a, b) => Number(a.id) - Number(b.id));
      const cycleOfMemory = new Map(
        bus
          .rows('memory_link')
          .filter((link) => cycleIds.has(Number(link.target_id)))
          .map((link) => [Number(link.memory_id), Number(link.target_id)]),
      );
      const reflections = bus
        .rows('reflection')
        .filter((reflection) => cycleOfMemory.has(Number(reflection.memory_id)))
        .sort((a, b) => Number(a.id) - Number(b.id));
      const reflectedCycles = new Set(reflections.map((reflection) => cycleOfMemory.get(Number(reflection.memory_id))));

      for (const cycle of cycles) {
        const who = color.bold(String(cycle.agent));
        say(`cycle:${cycle.id}`, `${who} picked it up (cycle #${cycle.id}, ${cycle.trigger_key})`);
        if (cycle.decision !== null) {
          say(
            `triage:${cycle.id}`,
            `${who} triaged: ${color.cyan(String(cycle.decision))} (priority ${cycle.priority})${cycle.reason ? ` - ${String(cycle.reason)}` : ''}`,
          );
        }
        if (cycle.phase === 'awaiting_approval') {
          say(`approval:${cycle.id}`, `${who} waits for a plan to be approved: ${color.yellow('claw plans')}`);
        }
        if (cycle.phase === 'reflecting') say(`reflecting:${cycle.id}`, `${who} is reflecting`);
        if (cycle.phase === 'deferred') say(`deferred:${cycle.id}`, `${who} deferred it`);
      }
      for (const call of toolCalls) {
        const agent = color.bold(String(call.agent));
        say(`call:${call.id}`, `${agent} step ${call.step}: ${call.tool} ${String(call.args)}`);
        if (call.state !== 'started') {
          const state = call.state === 'succeeded' ? color.green(String(call.state)) : color.red(String(call.state));
          say(
            `call-end:${call.id}`,
            `${agent} step ${call.step}: ${call.tool} → ${state}${call.error_code ? ` (${call.error_code})` : ''}`,
          );
        }
      }
      for (const reflection of reflections) {
        say(
          `reflection:${reflection.id}`,
          `${color.bold(String(reflection.agent))} reflected: ${String(reflection.text)}`,
        );
      }
      for (const cycle of cycles) {
        if (cycle.phase === 'done') {
          say(
            `done:${cycle.id}`,
            `${color.bold(String(cycle.agent))} done: ${String(cycle.outcome)}${cycle.outcome_detail ? ` - ${String(cycle.outcome_detail)}` : ''}`,
          );
        }
      }

      const settled =
        cycles.length > 0 &&
        cycles.every((cycle) => RESTING_PHASES.has(String(cycle.phase))) &&
        cycles.every(
          (cycle) =>
            (cycle.decision !== 'act' && cycle.decision !== 'delegate') || reflectedCycles.has(Number(cycle.id)),
        );
      const trail = { stimulusId, cycles, toolCalls, reflections };
      if (settled) return { ...trail, complete: true };
      const remaining = deadline - Date.now();
      if (remaining <= 0 || options.signal?.aborted) return { ...trail, complete: false };
      await new Promise<void>((resolveWake) => {
        const timer = setTimeout(resolveWake, remaining);
        const onAbort = (): void => resolveWake();
        options.signal?.addEventListener('abort', onAbort, { once: true });
        wake = () => {
          clearTimeout(timer);
          options.signal?.removeEventListener('abort', onAbort);
          resolveWake();
        };
      });
    }
  } finally {
    await subscription.dispose().catch(() => {});
  }
}

export function trailTimeout(trail: StimulusTrail, timeoutMs: number): ClawError {
  const where =
    trail.cycles.length === 0
      ? 'no agent has picked it up'
      : trail.cycles.map((cycle) => `${cycle.agent} ${cycle.phase}`).join(', ');
  return new ClawError(
    'TIMEOUT',
    `Stimulus ${trail.stimulusId} is not finished after ${Math.round(timeoutMs / 1000)} s (${where}); it goes on without you: \`claw tasks\`, \`claw reflections\``,
  );
}
