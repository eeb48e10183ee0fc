import { describe, expect, it } from 'vitest';
import { normalisePool, normaliseStatus } from '../public/js/status.js';

describe('the status the dashboard reads from /api/status', () => {
  it('takes supervision, restarts and tokens from `claw status --json` and the pool from the orchestrator', () => {
    const status = normaliseStatus({
      orchestrator: {
        pid: 42,
        pool: {
          queued: 3,
          queuedByPriority: { human: 1, triage: 0, act: 2, reflect: 0, compaction: 0 },
          embeddings: { queued: 0, running: 1, maxConcurrent: 2 },
          running: 2,
          permitsInUse: 2,
          maxConcurrent: 2,
          budgetBytes: 1000,
          reservedBytes: 400,
          models: [{ id: 'default', state: 'loaded', slots: 2, busySlots: 2, reservedBytes: 400 }],
        },
        agents: [
          { name: 'DevClaw', modelId: 'default', supervision: { state: 'running', restarts: 3, recentCrashes: 1 } },
        ],
      },
      agents: [
        {
          name: 'DevClaw',
          role: 'code',
          online: true,
          phase: 'acting',
          supervision: { state: 'running', restarts: 3, recentCrashes: 1 },
          tokensUsed: 1234,
        },
        { name: 'OpsClaw', role: 'ops', online: false, phase: null, supervision: null, tokensUsed: 0 },
      ],
    });
    expect(status.agents.get('DevClaw')).toEqual({
      name: 'DevClaw',
      role: 'code',
      online: true,
      supervisionState: 'running',
      restarts: 3,
      tokensUsed: 1234,
    });
    expect(status.agents.get('OpsClaw')).toMatchObject({ online: false, supervisionState: undefined, tokensUsed: 0 });
    expect(status.pool).toMatchObject({
      queued: 3,
      queuedByPriority: { human: 1, triage: 0, act: 2, reflect: 0, compaction: 0 },
      models: [{ id: 'default', state: 'loaded', slots: 2, busySlots: 2 }],
    });
  });

  it('reads a pool with missing parts as zeros, and no pool as none', () => {
    expect(normalisePool({ models: [{ id: 'm' }] })).toMatchObject({
      queued: 0,
      queuedByPriority: { human: 0, triage: 0, act: 0, reflect: 0, compaction: 0 },
      embeddings: undefined,
      models: [{ id: 'm', state: 'unknown', slots: 0, busySlots: 0 }],
    });
    expect(normaliseStatus('nonsense')).toMatchObject({ agents: new Map(), pool: undefined });
  });
});
