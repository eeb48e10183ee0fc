import type { BusClient } from '@clawfleet/bus-client';
import { describe, expect, it } from 'vitest';
import { LoopBus } from '../bus/loop-bus.ts';
import { computeWakeUpQueue, taskTags } from './wake-up-queue.ts';

const ME = 'DevClaw';

/** A bus whose cache holds exactly these rows. */
function busWith(tables: Record<string, Record<string, unknown>[]>): LoopBus {
  const client = { name: ME, identity: 'ab', rows: (table: string) => tables[table] ?? [] } as unknown as BusClient;
  return new LoopBus(client, ME);
}

const stimulus = (id: number, fields: Record<string, unknown> = {}) => ({
  id,
  source: 'cli',
  kind: 'code',
  text: `stimulus ${id}`,
  priority: 5,
  target_agent: null,
  created_by: 'ff',
  created_at: id,
  ...fields,
});
const task = (id: number, fields: Record<string, unknown> = {}) => ({
  id,
  title: `task ${id} #code`,
  description: '',
  priority: 5,
  state: 'queued',
  reserved_for: null,
  owner: null,
  attempts: 0,
  stimulus_id: null,
  result: null,
  created_at: id,
  ...fields,
});
const cycle = (id: number, key: string, phase: string, fields: Record<string, unknown> = {}) => ({
  id,
  agent: ME,
  trigger_kind: key.split(':')[0],
  trigger_key: key,
  trigger_text: '',
  task_id: null,
  phase,
  decision: null,
  priority: 3,
  reason: '',
  outcome: null,
  outcome_detail: '',
  steps: 0,
  tokens: 0,
  started_at: id,
  ...fields,
});
const options = {
  agent: ME,
  scope: { stimulusKinds: ['code'], taskTags: ['code'], scheduleSeconds: 0 },
  approvesPlans: false,
  identity: 'ab',
};
const keys = (bus: LoopBus) =>
  computeWakeUpQueue(bus, options).map((event) => (event.type === 'resume' ? `resume:${event.cycle.id}` : event.key));

describe('the wake-up queue', () => {
  it('puts resumptions first, then higher priority, then older', () => {
    const bus = busWith({
      stimulus: [stimulus(1, { priority: 2 }), stimulus(2, { priority: 8 }), stimulus(3, { priority: 8 })],
      cycle: [cycle(7, 'stimulus:9', 'acting'), cycle(8, 'stimulus:10', 'done')],
    });
    expect(keys(bus)).toEqual(['resume:7', 'stimulus:2', 'stimulus:3', 'stimulus:1']);
  });

  it('offers only what is for this agent and not yet handled', () => {
    const bus = busWith({
      stimulus: [
        stimulus(1, { target_agent: 'UXClaw' }),
        stimulus(2, { kind: 'chatter' }),
        stimulus(3, { created_by: 'ab' }),
        stimulus(4, { kind: 'chatter', target_agent: ME }),
        stimulus(5),
      ],
      task: [
        task(1),
        task(2, { title: 'untagged' }),
        task(3, { reserved_for: 'UXClaw' }),
        task(4, { title: 'untagged', reserved_for: ME }),
        task(5, { state: 'claimed', owner: 'UXClaw' }),
      ],
      visible_message: [
        { id: 1, kind: 'direct', from_agent: 'UXClaw', to_agent: ME, text: 'hi', mentions: [], created_at: 1 },
        { id: 2, kind: 'broadcast', from_agent: 'UXClaw', to_agent: null, text: 'all', mentions: [], created_at: 2 },
        {
          id: 3,
          kind: 'broadcast',
          from_agent: 'UXClaw',
          to_agent: null,
          text: '@DevClaw',
          mentions: [ME],
          created_at: 3,
        },
        { id: 4, kind: 'handoff', from_agent: 'UXClaw', to_agent: ME, text: 'yours', mentions: [ME], created_at: 4 },
        { id: 5, kind: 'direct', from_agent: ME, to_agent: 'UXClaw', text: 'mine', mentions: [], created_at: 5 },
      ],
      attention_request: [
        { id: 1, agent: ME, state: 'resolved', text: 'may I', priority: 4, resolution: 'yes', created_at: 1 },
        { id: 2, agent: ME, state: 'open', text: 'may I', priority: 4, resolution: null, created_at: 2 },
      ],
      cycle: [cycle(1, 'stimulus:5', 'done')],
    });
    expect(new Set(keys(bus))).toEqual(
      new Set(['stimulus:4', 'task:1:0', 'task:4:0', 'message:1', 'message:3', 'attention:1']),
    );
  });

  it('waits on deferred cycles and pending plans, and resumes once a plan is decided', () => {
    const pending = busWith({
      cycle: [cycle(1, 'stimulus:1', 'deferred'), cycle(2, 'stimulus:2', 'awaiting_approval')],
      plan: [{ id: 1, agent: ME, cycle_id: 2, text: 'p', state: 'pending', created_at: 1 }],
    });
    expect(keys(pending)).toEqual([]);
    const decided = busWith({
      cycle: [cycle(1, 'stimulus:1', 'due'), cycle(2, 'stimulus:2', 'awaiting_approval')],
      plan: [{ id: 1, agent: ME, cycle_id: 2, text: 'p', state: 'rejected', created_at: 1 }],
    });
    expect(keys(decided).sort()).toEqual(['resume:1', 'resume:2']);
  });

  it('sees a requeued task as a new event (its claim count changed)', () => {
    const bus = busWith({ task: [task(1, { attempts: 1 })], cycle: [cycle(1, 'task:1:0', 'done')] });
    expect(keys(bus)).toEqual(['task:1:1']);
  });

  it('reads #tags from titles and descriptions', () => {
    expect(taskTags('Fix #Code now', 'see #ux-review and #2x')).toEqual(['code', 'ux-review']);
  });
});
