import { ClawError, isClawError } from '@clawfleet/protocol';
import { rejectionOf } from '@clawfleet/protocol/testing';
import { describe, expect, it } from 'vitest';
import { FakeInferenceBackend } from '../../testing/fake-inference-backend.ts';
import type { ModelSpec } from '../backend.ts';
import type { PriorityClass } from './priority.ts';
import type { SlotLease } from './slot-lease.ts';
import { SlotPool } from './slot-pool.ts';
import type { SlotPoolOptions } from './slot-pool-options.ts';

const MiB = 1024 ** 2;

function model(id: string, slots: number): ModelSpec {
  return { id, path: `/models/${id}.gguf`, contextSize: 512, slots, gpuLayers: 0 };
}

async function setup(
  models: ModelSpec[],
  options: Partial<SlotPoolOptions> = {},
  memoryBytes?: Record<string, number>,
): Promise<{ pool: SlotPool; backend: FakeInferenceBackend }> {
  const backend = new FakeInferenceBackend({ checkPaths: false, memoryBytes, totalMemoryBytes: 4096 * MiB });
  const pool = await SlotPool.create({ backend, models, ...options });
  return { pool, backend };
}

/** Lets queued microtasks and the pool's scheduling pass run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('SlotPool', () => {
  it('serves waiting requests in priority order: human, triage, act, reflect, compaction', async () => {
    const { pool } = await setup([model('m', 1)]);
    const blocker = await pool.acquire({ agent: 'LeadClaw', modelId: 'm', priority: 'act' });
    const order: string[] = [];
    const classes: PriorityClass[] = ['compaction', 'reflect', 'act', 'human', 'triage'];
    const done = classes.map((priority) =>
      pool.acquire({ agent: 'LeadClaw', modelId: 'm', priority }).then((lease) => {
        order.push(priority);
        lease.release();
      }),
    );
    await settle();
    expect(order).toEqual([]);
    blocker.release();
    await Promise.all(done);
    expect(order).toEqual(['human', 'triage', 'act', 'reflect', 'compaction']);
    await pool.dispose();
  });

  it('reports its waiting requests per priority class', async () => {
    const { pool } = await setup([model('m', 1)]);
    const blocker = await pool.acquire({ agent: 'LeadClaw', modelId: 'm', priority: 'act' });
    const waiting = (['triage', 'triage', 'reflect'] as PriorityClass[]).map((priority) =>
      pool.acquire({ agent: 'DevClaw', modelId: 'm', priority }).then((lease) => lease.release()),
    );
    await settle();
    expect(pool.status()).toMatchObject({
      queued: 3,
      queuedByPriority: { human: 0, triage: 2, act: 0, reflect: 1, compaction: 0 },
    });
    blocker.release();
    await Promise.all(waiting);
    expect(pool.status().queuedByPriority).toEqual({ human: 0, triage: 0, act: 0, reflect: 0, compaction: 0 });
    await pool.dispose();
  });

  it('ages a waiting request: compaction overtakes later human requests after 4 aging intervals', async () => {
    let now = 0;
    const { pool } = await setup([model('m', 1)], { agingIntervalMs: 1000, clock: () => now });
    let lease = await pool.acquire({ agent: 'LeadClaw', modelId: 'm', priority: 'act' });
    const order: string[] = [];
    const leases: SlotLease[] = [];
    const track = (name: string, priority: PriorityClass) =>
      pool.acquire({ agent: 'LeadClaw', modelId: 'm', priority }).then((next) => {
        order.push(name);
        leases.push(next);
      });
    const all = [track('compaction', 'compaction')];
    // A steady stream of human requests, each arriving after the compaction request.
    for (let index = 1; index <= 5; index++) {
      now = index * 100;
      all.push(track(`human-${index}`, 'human'));
    }
    now = 3999; // compaction has effective rank 1: humans still go first
    lease.release();
    await settle();
    expect(order).toEqual(['human-1']);
    now = 4000; // 4 intervals waited: rank 0, and older than every human still queued
    (leases.shift() as SlotLease).release();
    await settle();
    expect(order).toEqual(['human-1', 'compaction']);
    while (leases.length > 0 || order.length < 6) {
      lease = leases.shift() as SlotLease;
      lease?.release();
      await settle();
    }
    await Promise.all(all);
    expect(order.slice(2)).toEqual(['human-2', 'human-3', 'human-4', 'human-5']);
    await pool.dispose();
  });

  it('keeps one busy agent from holding every slot while another agent waits', async () => {
    const { pool } = await setup([model('m', 4)]);
    const running = new Map<string, SlotLease[]>([
      ['DevClaw', []],
      ['UXClaw', []],
    ]);
    const take = (agent: string) =>
      pool.acquire({ agent, modelId: 'm', priority: 'act' }).then((lease) => {
        running.get(agent)?.push(lease);
      });
    const all: Promise<void>[] = [];
    for (let index = 0; index < 10; index++) all.push(take('DevClaw'));
    await settle();
    expect(running.get('DevClaw')).toHaveLength(4); // alone, it may use every slot
    for (let index = 0; index < 3; index++) all.push(take('UXClaw'));
    // DevClaw's remaining 6 requests are older, yet the freed slots go to UXClaw up to its share (2 of 4).
    running.get('DevClaw')?.shift()?.release();
    await settle();
    running.get('DevClaw')?.shift()?.release();
    await settle();
    expect(running.get('UXClaw')).toHaveLength(2);
    expect(running.get('DevClaw')).toHaveLength(2);
    // At its share, UXClaw waits while DevClaw is below it.
    running.get('DevClaw')?.shift()?.release();
    await settle();
    expect(running.get('UXClaw')).toHaveLength(2);
    expect(running.get('DevClaw')).toHaveLength(2);
    const finished = Promise.allSettled(all);
    const disposed = pool.dispose(); // waits for the running leases
    for (const leases of running.values()) for (const lease of leases) lease.release();
    await disposed;
    const outcomes = await finished;
    expect(outcomes.filter((outcome) => outcome.status === 'rejected')).toHaveLength(13 - 7); // 5 for DevClaw and 2 for UXClaw ran
  });

  it('applies the fair share within every class, human included', async () => {
    const { pool } = await setup([model('m', 2)]);
    const first = await pool.acquire({ agent: 'LeadClaw', modelId: 'm', priority: 'human' });
    const second = await pool.acquire({ agent: 'LeadClaw', modelId: 'm', priority: 'human' });
    const order: string[] = [];
    const leases: SlotLease[] = [];
    const track = (agent: string) =>
      pool.acquire({ agent, modelId: 'm', priority: 'human' }).then((lease) => {
        order.push(agent);
        leases.push(lease);
      });
    // LeadClaw floods human requests; DevClaw (below its share of 1) asks once, later, at human too.
    const waiting = [track('LeadClaw'), track('LeadClaw'), track('DevClaw')];
    first.release();
    await settle();
    expect(order).toEqual(['DevClaw']);
    second.release();
    while (order.length < 3) {
      leases.shift()?.release();
      await settle();
    }
    await Promise.all(waiting);
    for (const lease of leases) lease.release();
    await pool.dispose();
  });

  it('keeps one agent flooding a high class from making another agent wait behind all of it', async () => {
    const { pool } = await setup([model('m', 2)]);
    const held = [
      await pool.acquire({ agent: 'LeadClaw', modelId: 'm', priority: 'triage' }),
      await pool.acquire({ agent: 'LeadClaw', modelId: 'm', priority: 'triage' }),
    ];
    const flood = Array.from({ length: 200 }, () =>
      pool.acquire({ agent: 'LeadClaw', modelId: 'm', priority: 'triage' }).then((lease) => lease.release()),
    );
    let devGranted = false;
    const dev = pool.acquire({ agent: 'DevClaw', modelId: 'm', priority: 'act' }).then((lease) => {
      devGranted = true;
      return lease;
    });
    await settle();
    (held.shift() as SlotLease).release();
    await settle();
    // The first slot freed goes to DevClaw, not to the 200 older, higher-class LeadClaw requests.
    expect(devGranted).toBe(true);
    expect(pool.status().queued).toBe(200);
    (await dev).release();
    (held.shift() as SlotLease).release();
    await Promise.all(flood);
    await pool.dispose();
  });

  it('runs embeddings in their own lane: they take no generation slot and queue by priority', async () => {
    const { pool, backend } = await setup([model('m', 1)]);
    const generation = await pool.acquire({ agent: 'LeadClaw', modelId: 'm', priority: 'act' });
    // Every generation slot is busy, yet an embedding gets its lease.
    const embedding = await pool.acquireEmbedding({ agent: 'DevClaw', modelId: 'm', priority: 'reflect' });
    expect(pool.status()).toMatchObject({ running: 1, embeddings: { running: 1, queued: 0, maxConcurrent: 1 } });
    const { vectors, tokensIn } = await embedding.embed(['alpha', 'beta']);
    expect(vectors).toHaveLength(2);
    expect(tokensIn).toBe('alpha'.length + 'beta'.length);
    // A busy embedding lane queues embeddings by priority; it never blocks generation.
    const order: string[] = [];
    const waiting = (['compaction', 'triage'] as const).map((priority) =>
      pool.acquireEmbedding({ agent: 'UXClaw', modelId: 'm', priority }).then((lease) => {
        order.push(priority);
        lease.release();
      }),
    );
    await settle();
    expect(pool.status().embeddings.queued).toBe(2);
    generation.release();
    (await pool.acquire({ agent: 'LeadClaw', modelId: 'm', priority: 'act' })).release();
    expect(order).toEqual([]);
    embedding.release();
    await Promise.all(waiting);
    expect(order).toEqual(['triage', 'compaction']);
    expect(backend.statistics.peakConcurrentEmbeddings).toBe(1);
    expect(pool.status()).toMatchObject({ queued: 0, running: 0, embeddings: { queued: 0, running: 0 } });
    await pool.dispose();
  });

  it('keeps a model with a running embedding loaded until it ends', async () => {
    const memory = { a: 600 * MiB, b: 600 * MiB };
    const { pool, backend } = await setup([model('a', 1), model('b', 1)], { memoryBudgetBytes: 1000 * MiB }, memory);
    const embedding = await pool.acquireEmbedding({ agent: 'LeadClaw', modelId: 'a', priority: 'act' });
    backend.closeEmbeddingGate();
    const running = embedding.embed(['kept']);
    const onB = pool.acquire({ agent: 'DevClaw', modelId: 'b', priority: 'triage' });
    await settle();
    expect(backend.loadedModelIds()).toEqual(['a']);
    backend.openEmbeddingGate();
    expect((await running).vectors).toHaveLength(1);
    embedding.release();
    (await onB).release();
    expect(backend.loadedModelIds()).toEqual(['b']);
    expect(backend.statistics.peakLoadedBytes).toBeLessThanOrEqual(1000 * MiB);
    await pool.dispose();
  });

  it('preloads a model with progress, so the first request does not wait for the load', async () => {
    const progress: number[] = [];
    const { pool, backend } = await setup([model('m', 1)], {
      onLoadProgress: (event) => progress.push(event.progress),
    });
    await pool.preload('m');
    expect(backend.loadedModelIds()).toEqual(['m']);
    expect(progress).toEqual([0, 1]);
    const lease = await pool.acquire({ agent: 'LeadClaw', modelId: 'm', priority: 'act' });
    expect(backend.statistics.loads).toBe(1);
    lease.release();
    expect((await rejectionOf(pool.preload('nope'))).code).toBe('NOT_FOUND');
    await pool.dispose();
  });

  it('generates through the lease, on its slot, with its prefix and its signal', async () => {
    const { pool } = await setup([model('m', 2)]);
    const prefix = 'You are LeadClaw. ';
    await using first = await pool.acquire({ agent: 'LeadClaw', modelId: 'm', priority: 'act', prefix });
    await first.generate({ prompt: 'one', sampling: { maxTokens: 4 } });
    first.release();
    await using second = await pool.acquire({ agent: 'LeadClaw', modelId: 'm', priority: 'act', prefix });
    const result = await second.generate({ prompt: 'two', sampling: { maxTokens: 4 } });
    expect(second.slot).toBe(first.slot);
    expect(result.tokensReused).toBe(prefix.length);
    second.release();
    expect((await rejectionOf(second.generate({ prompt: 'late', sampling: { maxTokens: 4 } }))).code).toBe('CONFLICT');
    await pool.dispose();
  });

  it('cancels on the caller signal, the deadline and cancelAgent, queued or running', async () => {
    const { pool, backend } = await setup([model('m', 1)]);
    const lease = await pool.acquire({ agent: 'LeadClaw', modelId: 'm', priority: 'act' });
    const controller = new AbortController();
    const aborted = pool.acquire({ agent: 'DevClaw', modelId: 'm', priority: 'human', signal: controller.signal });
    const timed = pool.acquire({ agent: 'DevClaw', modelId: 'm', priority: 'human', timeoutMs: 20 });
    controller.abort();
    expect((await rejectionOf(aborted)).code).toBe('CANCELLED');
    expect((await rejectionOf(timed)).code).toBe('TIMEOUT');

    // Running: the lease signal aborts and the backend stops the generation.
    backend.closeGate();
    const generation = backend.generate(
      { modelId: 'm', slot: lease.slot, prompt: 'long', sampling: { maxTokens: 1000 } },
      { signal: lease.signal },
    );
    const queuedForLead = pool.acquire({ agent: 'LeadClaw', modelId: 'm', priority: 'reflect' });
    const queuedForOps = pool.acquire({ agent: 'OpsClaw', modelId: 'm', priority: 'reflect' });
    await settle();
    expect(pool.cancelAgent('LeadClaw')).toBe(2);
    expect(lease.signal.aborted).toBe(true);
    backend.openGate();
    expect((await generation).stopReason).toBe('aborted');
    expect((await rejectionOf(queuedForLead)).code).toBe('CANCELLED');
    lease.release();
    const opsLease = await queuedForOps; // other agents are untouched
    expect(opsLease.agent).toBe('OpsClaw');
    opsLease.release();
    expect(pool.status()).toMatchObject({ queued: 0, running: 0, permitsInUse: 0 });
    await pool.dispose();
  });

  it('prefers the slot that keeps the request prefix, so the backend reuses it', async () => {
    const { pool, backend } = await setup([model('m', 3)]);
    const run = async (agent: string, prefix: string) => {
      await using lease = await pool.acquire({ agent, modelId: 'm', priority: 'act', prefix });
      const result = await backend.generate({
        modelId: 'm',
        slot: lease.slot,
        prefix,
        prompt: 'next',
        sampling: { maxTokens: 4 },
      });
      return { slot: lease.slot, reused: result.tokensReused };
    };
    const lead = await run('LeadClaw', 'You are LeadClaw. ');
    const dev = await run('DevClaw', 'You are DevClaw. ');
    const ux = await run('UXClaw', 'You are UXClaw. ');
    expect(new Set([lead.slot, dev.slot, ux.slot]).size).toBe(3);
    const again = await run('DevClaw', 'You are DevClaw. ');
    expect(again.slot).toBe(dev.slot);
    expect(again.reused).toBe('You are DevClaw. '.length);
    await pool.dispose();
  });

  it('unloads the least recently used idle model to make room and never exceeds the budget', async () => {
    const memory = { a: 400 * MiB, b: 400 * MiB, c: 400 * MiB, huge: 2000 * MiB };
    const { pool, backend } = await setup(
      [model('a', 1), model('b', 1), model('c', 1), model('huge', 1)],
      { memoryBudgetBytes: 1000 * MiB },
      memory,
    );
    const use = async (modelId: string) =>
      (await pool.acquire({ agent: 'LeadClaw', modelId, priority: 'act' })).release();
    await use('b');
    await use('a');
    expect(backend.loadedModelIds().sort()).toEqual(['a', 'b']);
    await use('c'); // b is the least recently used
    expect(backend.loadedModelIds().sort()).toEqual(['a', 'c']);
    expect(backend.statistics.peakLoadedBytes).toBeLessThanOrEqual(1000 * MiB);

    const tooLarge = await rejectionOf(pool.acquire({ agent: 'LeadClaw', modelId: 'huge', priority: 'act' }));
    expect(tooLarge.code).toBe('MODEL_TOO_LARGE');
    expect(tooLarge.message).toContain('`huge` needs 2000.0 MiB but the memory budget is 1000.0 MiB');
    await pool.dispose();
  });

  it('makes busy models drain instead of deadlocking when a request needs their memory', async () => {
    const memory = { a: 600 * MiB, b: 600 * MiB };
    const { pool, backend } = await setup(
      [model('a', 2), model('b', 2)],
      { memoryBudgetBytes: 1000 * MiB, maxConcurrent: 2 },
      memory,
    );
    const onA = await pool.acquire({ agent: 'LeadClaw', modelId: 'a', priority: 'act' });
    const order: string[] = [];
    const forB = pool.acquire({ agent: 'DevClaw', modelId: 'b', priority: 'triage' }).then((lease) => {
      order.push('b');
      lease.release();
    });
    await settle();
    // Model a has a free slot and a permit is free, but a is draining for b: a later request waits.
    const laterOnA = pool.acquire({ agent: 'OpsClaw', modelId: 'a', priority: 'act' }).then((lease) => {
      order.push('a');
      lease.release();
    });
    await settle();
    expect(order).toEqual([]);
    expect(pool.status().models.find((entry) => entry.id === 'a')?.closing).toBe(true);
    onA.release();
    await Promise.all([forB, laterOnA]);
    expect(order).toEqual(['b', 'a']);
    expect(backend.statistics.peakLoadedBytes).toBeLessThanOrEqual(1000 * MiB);
    expect(pool.status()).toMatchObject({ queued: 0, running: 0, permitsInUse: 0 });
    await pool.dispose();
  });

  it('fails the requests of a model whose load fails, and loads it on a later request', async () => {
    const { pool, backend } = await setup([model('m', 1)]);
    backend.injectFailure('load', new ClawError('MODEL_INVALID', 'Model file /models/m.gguf is truncated'));
    const failures = await Promise.all([
      rejectionOf(pool.acquire({ agent: 'LeadClaw', modelId: 'm', priority: 'act' })),
      rejectionOf(pool.acquire({ agent: 'DevClaw', modelId: 'm', priority: 'act' })),
    ]);
    expect(failures.map((error) => error.code)).toEqual(['MODEL_INVALID', 'MODEL_INVALID']);
    const lease = await pool.acquire({ agent: 'LeadClaw', modelId: 'm', priority: 'act' });
    lease.release();
    await pool.dispose();
  });

  it('refuses a model the device cannot hold now with INSUFFICIENT_MEMORY, and a missing file with MODEL_NOT_FOUND', async () => {
    const { pool, backend } = await setup([model('m', 1)], { memoryBudgetBytes: 1000 * MiB }, { m: 600 * MiB });
    backend.externalUsedBytes = 4096 * MiB - 500 * MiB; // another process holds the device
    const busy = await rejectionOf(pool.acquire({ agent: 'LeadClaw', modelId: 'm', priority: 'act' }));
    expect(busy.code).toBe('INSUFFICIENT_MEMORY');
    expect(busy.retryable).toBe(true);
    expect(busy.message).toBe('Model `m` needs 600.0 MiB but the device has 500.0 MiB free');
    backend.externalUsedBytes = 0;
    (await pool.acquire({ agent: 'LeadClaw', modelId: 'm', priority: 'act' })).release(); // it retries fine
    await pool.dispose();

    const checking = new FakeInferenceBackend();
    const missing = await SlotPool.create({
      backend: checking,
      models: [{ ...model('gone', 1), path: '/nonexistent/clawfleet/gone.gguf' }],
    });
    const notFound = await rejectionOf(missing.acquire({ agent: 'LeadClaw', modelId: 'gone', priority: 'act' }));
    expect(notFound.code).toBe('MODEL_NOT_FOUND');
    expect(notFound.message).toContain('/nonexistent/clawfleet/gone.gguf');
    expect(missing.status()).toMatchObject({ queued: 0, running: 0, reservedBytes: 0 });
    await missing.dispose();
  });

  it('caps queued requests per agent: a flooding agent gets QUEUE_FULL, another agent is still queued and served', async () => {
    // Default limits: 10,000 queued in all, 256 per agent. Before the per-agent cap, the flood
    // filled the whole queue and DevClaw's request was the one refused.
    const { pool } = await setup([model('m', 1)]);
    const blocker = await pool.acquire({ agent: 'LeadClaw', modelId: 'm', priority: 'act' });
    const flood = Array.from({ length: 10_000 }, () =>
      pool.acquire({ agent: 'LeadClaw', modelId: 'm', priority: 'act' }).then(
        (lease) => {
          lease.release();
          return 'served';
        },
        (error: unknown) => (isClawError(error) ? error.code : 'other'),
      ),
    );
    const other = pool.acquire({ agent: 'DevClaw', modelId: 'm', priority: 'act' });
    await settle();
    expect(pool.status().queued).toBe(257);
    const refused = await rejectionOf(pool.acquire({ agent: 'LeadClaw', modelId: 'm', priority: 'human' }));
    expect(refused.code).toBe('QUEUE_FULL');
    expect(refused.message).toBe('Agent `LeadClaw` has 256 inference requests queued, its maximum (maxQueuedPerAgent)');
    blocker.release();
    const lease = await other;
    expect(lease.agent).toBe('DevClaw');
    lease.release();
    const outcomes = await Promise.all(flood);
    expect(outcomes.filter((outcome) => outcome === 'served')).toHaveLength(256);
    expect(outcomes.filter((outcome) => outcome === 'QUEUE_FULL')).toHaveLength(10_000 - 256);
    // Served or refused, each request left the count: the agent may queue again.
    const again = await pool.acquire({ agent: 'LeadClaw', modelId: 'm', priority: 'act' });
    again.release();
    await pool.dispose();
  });

  it("counts an agent's queued requests across lanes and models against maxQueuedPerAgent", async () => {
    const { pool } = await setup([model('a', 1), model('b', 1)], { maxQueuedPerAgent: 2 });
    const held = [
      await pool.acquire({ agent: 'LeadClaw', modelId: 'a', priority: 'act' }),
      await pool.acquire({ agent: 'LeadClaw', modelId: 'b', priority: 'act' }),
    ];
    const heldEmbedding = await pool.acquireEmbedding({ agent: 'LeadClaw', modelId: 'a', priority: 'act' });
    const controller = new AbortController();
    const queuedA = pool.acquire({ agent: 'LeadClaw', modelId: 'a', priority: 'act', signal: controller.signal });
    const queuedEmbedding = pool.acquireEmbedding({ agent: 'LeadClaw', modelId: 'a', priority: 'act' });
    expect((await rejectionOf(pool.acquire({ agent: 'LeadClaw', modelId: 'b', priority: 'act' }))).code).toBe(
      'QUEUE_FULL',
    );
    // A cancelled queued request frees its place.
    controller.abort();
    expect((await rejectionOf(queuedA)).code).toBe('CANCELLED');
    const queuedB = pool.acquire({ agent: 'LeadClaw', modelId: 'b', priority: 'act' });
    for (const lease of held) lease.release();
    heldEmbedding.release();
    (await queuedB).release();
    (await queuedEmbedding).release();
    await pool.dispose();
  });

  it('refuses bad requests and options with exact messages', async () => {
    const { pool } = await setup([model('m', 1)], { maxQueued: 1 });
    const badPriority = await rejectionOf(
      pool.acquire({ agent: 'LeadClaw', modelId: 'm', priority: 'urgent' as PriorityClass }),
    );
    expect(badPriority.code).toBe('INVALID_PARAMS');
    expect(badPriority.message).toBe(
      'Expected `priority` to be one of human, triage, act, reflect, compaction, got `urgent`',
    );
    expect((await rejectionOf(pool.acquire({ agent: 'LeadClaw', modelId: 'nope', priority: 'act' }))).message).toBe(
      'No model `nope` is configured; configured: m',
    );
    const held = await pool.acquire({ agent: 'LeadClaw', modelId: 'm', priority: 'act' });
    const queued = pool.acquire({ agent: 'LeadClaw', modelId: 'm', priority: 'act' });
    expect((await rejectionOf(pool.acquire({ agent: 'LeadClaw', modelId: 'm', priority: 'act' }))).code).toBe(
      'QUEUE_FULL',
    );
    held.release();
    (await queued).release();
    await pool.dispose();
    expect((await rejectionOf(pool.acquire({ agent: 'LeadClaw', modelId: 'm', priority: 'act' }))).code).toBe(
      'SHUTTING_DOWN',
    );

    const backend = new FakeInferenceBackend({ checkPaths: false });
    const badSlots = await rejectionOf(SlotPool.create({ backend, models: [{ ...model('m', 1), slots: 0 }] }));
    expect(badSlots.code).toBe('CONFIG_INVALID');
    expect(badSlots.message).toBe(
      'Invalid slot pool options at `models.0.slots`: Expected `slots` to be an integer 1-64, got `0` (number)',
    );
  });

  it('loses no request and never deadlocks under 1,000 concurrent random requests with cancellations', async () => {
    let randomState = 12345;
    const random = (): number => {
      randomState = (randomState * 1103515245 + 12345) % 2 ** 31;
      return randomState / 2 ** 31;
    };
    const memory = { small: 300 * MiB, medium: 500 * MiB, large: 700 * MiB };
    const { pool, backend } = await setup(
      [model('small', 2), model('medium', 3), model('large', 4)],
      { memoryBudgetBytes: 1000 * MiB, maxConcurrent: 5, agingIntervalMs: 5 },
      memory,
    );
    const agents = ['LeadClaw', 'DevClaw', 'UXClaw', 'OpsClaw', 'ScribeClaw'];
    const modelIds = Object.keys(memory);
    const priorities: PriorityClass[] = ['human', 'triage', 'act', 'reflect', 'compaction'];
    const outcomes = { completed: 0, cancelled: 0, timedOut: 0, other: [] as string[] };
    const requests = Array.from({ length: 1000 }, async (_, index) => {
      const controller = new AbortController();
      const roll = random();
      if (roll < 0.05) controller.abort();
      else if (roll < 0.2) setTimeout(() => controller.abort(), Math.floor(random() * 30));
      const timeoutMs = random() < 0.05 ? 1 + Math.floor(random() * 40) : undefined;
      const prefix = random() < 0.5 ? `prelude of ${agents[index % 5]}` : undefined;
      try {
        await using lease = await pool.acquire({
          agent: agents[Math.floor(random() * agents.length)] as string,
          modelId: modelIds[Math.floor(random() * modelIds.length)] as string,
          priority: priorities[Math.floor(random() * priorities.length)] as PriorityClass,
          prefix,
          timeoutMs,
          signal: controller.signal,
        });
        await backend.generate(
          {
            modelId: lease.modelId,
            slot: lease.slot,
            prefix,
            prompt: `request ${index}`,
            sampling: { maxTokens: 1 + Math.floor(random() * 64) },
          },
          { signal: lease.signal },
        );
        outcomes.completed++;
      } catch (error) {
        if (isClawError(error, 'CANCELLED')) outcomes.cancelled++;
        else if (isClawError(error, 'TIMEOUT')) outcomes.timedOut++;
        else outcomes.other.push(String(error));
      }
    });
    await Promise.all(requests);
    expect(outcomes.other).toEqual([]);
    expect(outcomes.completed + outcomes.cancelled + outcomes.timedOut).toBe(1000);
    expect(outcomes.completed).toBeGreaterThan(500);
    expect(backend.statistics.busySlotConflicts).toBe(0);
    expect(backend.statistics.peakLoadedBytes).toBeLessThanOrEqual(1000 * MiB);
    expect(backend.statistics.peakConcurrentGenerations).toBeLessThanOrEqual(5);
    expect(pool.status()).toMatchObject({ queued: 0, running: 0, permitsInUse: 0 });
    await pool.dispose();
  });
});
