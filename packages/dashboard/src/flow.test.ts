import { describe, expect, it } from 'vitest';
import { EVERYONE, flowEdges, layout } from '../public/js/panels/flow.js';
import { waitsByClass } from '../public/js/panels/pool.js';

describe('message flow edges', () => {
  it('counts direct messages, broadcasts, hand-offs and mentions separately, and task delegations by creator', () => {
    const messages = [
      { id: 1, kind: 'direct', from_agent: 'LeadClaw', to_agent: 'DevClaw', mentions: [] },
      { id: 2, kind: 'direct', from_agent: 'LeadClaw', to_agent: 'DevClaw', mentions: ['UXClaw'] },
      { id: 3, kind: 'broadcast', from_agent: 'OpsClaw', to_agent: null, mentions: [] },
      { id: 4, kind: 'handoff', from_agent: 'DevClaw', to_agent: 'UXClaw', mentions: [] },
    ];
    const tasks = [
      { id: 9, created_by: 'aa', reserved_for: 'ScribeClaw' },
      { id: 10, created_by: 'ff', reserved_for: 'DevClaw' }, // created by a person: not a delegation
    ];
    const edges = flowEdges(messages, tasks, new Map([['aa', 'LeadClaw']]));
    expect(edges).toEqual(
      expect.arrayContaining([
        { kind: 'direct', from: 'LeadClaw', to: 'DevClaw', count: 2 },
        { kind: 'mention', from: 'LeadClaw', to: 'UXClaw', count: 1 },
        { kind: 'broadcast', from: 'OpsClaw', to: EVERYONE, count: 1 },
        { kind: 'delegation', from: 'DevClaw', to: 'UXClaw', count: 1 },
        { kind: 'delegation', from: 'LeadClaw', to: 'ScribeClaw', count: 1 },
      ]),
    );
    expect(edges).toHaveLength(5);
  });

  it('places agents apart on a circle with everyone in the centre', () => {
    const positions = layout(['A', 'B', 'C', 'D', 'E']);
    const points = ['A', 'B', 'C', 'D', 'E'].map((name) => positions.get(name)!);
    for (const [index, point] of points.entries()) {
      for (const other of points.slice(index + 1))
        expect(Math.hypot(point.x - other.x, point.y - other.y)).toBeGreaterThan(150);
    }
    expect(positions.get(EVERYONE)).toEqual({ x: 260, y: 260 });
  });
});

describe('slot pool waits', () => {
  it('gives the median and longest wait per priority class over the newest requests', () => {
    const usage = [
      ...Array.from({ length: 300 }, (_, index) => ({ id: index, priority_class: 'reflect', queued_ms: 10_000 })),
      { id: 300, priority_class: 'human', queued_ms: 5 },
      { id: 301, priority_class: 'triage', queued_ms: 40 },
      { id: 302, priority_class: 'triage', queued_ms: 10 },
      { id: 303, priority_class: 'triage', queued_ms: 900 },
    ];
    const waits = waitsByClass(usage);
    expect(waits.get('human')).toEqual({ requests: 1, medianMs: 5, maxMs: 5 });
    expect(waits.get('triage')).toEqual({ requests: 3, medianMs: 40, maxMs: 900 });
    expect(waits.get('reflect')?.requests).toBe(196);
  });
});
