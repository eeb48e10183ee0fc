import { ClawError, type Logger, silentLogger } from '@clawfleet/protocol';
import type { InferenceBackend, LoadedModel, ModelSpec } from '../backend.ts';
import { chooseSlot, type SlotState } from './prefix-affinity.ts';
import { baseRank, effectiveRank, PRIORITY_CLASSES, type PriorityClass } from './priority.ts';
import { SlotLease } from './slot-lease.ts';
import {
  parseOrThrow,
  type SlotPoolOptions,
  type SlotRequest,
  slotPoolSettingsSchema,
  slotRequestSchema,
} from './slot-pool-options.ts';

type ModelState = 'unloaded' | 'loading' | 'loaded' | 'unloading';

interface ModelEntry {
  spec: ModelSpec;
  state: ModelState;
  loaded: LoadedModel | undefined;
  /** Bytes counted against the budget while loading, loaded or unloading. */
  reservedBytes: number;
  estimateBytes: number | undefined;
  estimating: boolean;
  slots: SlotState[];
  busyCount: number;
  lastUsedAt: number;
  /** Chosen to make room for another model: no new leases; unloaded once idle. */
  closing: boolean;
  runningByAgent: Map<string, number>;
  queuedByAgent: Map<string, number>;
}

interface PendingRequest {
  sequence: number;
  agent: string;
  modelId: string;
  priority: PriorityClass;
  rank: number;
  prefix: string | undefined;
  enqueuedAt: number;
  state: 'queued' | 'running' | 'settled';
  controller: AbortController;
  resolve: (lease: SlotLease) => void;
  reject: (error: ClawError) => void;
  cleanup: () => void;
}

export interface SlotPoolModelStatus {
  id: string;
  state: ModelState;
  reservedBytes: number;
  busySlots: number;
  slots: number;
  closing: boolean;
}

export interface SlotPoolStatus {
  queued: number;
  running: number;
  permitsInUse: number;
  maxConcurrent: number;
  budgetBytes: number;
  reservedBytes: number;
  models: SlotPoolModelStatus[];
}

/**
 * The priority slot pool: lends (model, slot, concurrency permit) to requests in priority order,
 * with aging, per-agent fairness, prefix affinity, and a memory budget with LRU unloading.
 *
 * One synchronous scheduling pass decides everything, so its invariants hold between awaits:
 * - A request takes a slot and a permit in the same step, and only on a model that is loaded: no
 *   request holds a permit while a model loads or memory is being freed (no deadlock between
 *   requests competing for memory).
 * - The sum of reservations never exceeds the budget: a model's reservation is taken before its
 *   load starts and given back only after its unload finished.
 * - At most one memory plan (unload victims, then load) runs at a time; while the highest-ranked
 *   request waits for memory held by busy models, those models take no new leases, so they drain.
 *
 * p-queue does not fit this: it dequeues head-of-line whenever a permit is free, with a priority
 * fixed at insertion, while here the next request depends on which model has a free slot, which
 * agent holds how many slots, and how long each request has waited.
 */
export class SlotPool implements AsyncDisposable {
  readonly #backend: InferenceBackend;
  readonly #logger: Logger;
  readonly #clock: () => number;
  readonly #models = new Map<string, ModelEntry>();
  /** One FIFO per priority class; within one, effective rank never decreases from head to tail. */
  readonly #queues: PendingRequest[][] = PRIORITY_CLASSES.map(() => []);
  readonly #running = new Set<PendingRequest>();
  readonly #maxConcurrent: number;
  readonly #agingIntervalMs: number;
  readonly #maxQueued: number;
  readonly #budgetBytes: number;
  #queuedCount = 0;
  #permitsInUse = 0;
  #reservedBytes = 0;
  #sequence = 0;
  #memoryPlanActive = false;
  /** The model the highest-ranked request is waiting to load while busy models drain. */
  #memoryWaiter: ModelEntry | undefined;
  #passScheduled = false;
  #disposed = false;
  readonly #disposeController = new AbortController();
  #idleWaiters: (() => void)[] = [];

  private constructor(options: SlotPoolOptions, budgetBytes: number) {
    this.#backend = options.backend;
    this.#logger = (options.logger ?? silentLogger).child({ component: 'slot-pool' });
    this.#clock = options.clock ?? (() => performance.now());
    this.#agingIntervalMs = options.agingIntervalMs ?? 2000;
    this.#maxQueued = options.maxQueued ?? 10_000;
    this.#budgetBytes = budgetBytes;
    let totalSlots = 0;
    for (const spec of options.models) {
      totalSlots += spec.slots;
      this.#models.set(spec.id, {
        spec: { ...spec },
        state: 'unloaded',
        loaded: undefined,
        reservedBytes: 0,
        estimateBytes: undefined,
        estimating: false,
        slots: [],
        busyCount: 0,
        lastUsedAt: 0,
        closing: false,
        runningByAgent: new Map(),
        queuedByAgent: new Map(),
      });
    }
    this.#maxConcurrent = options.maxConcurrent ?? totalSlots;
  }

  /** Validates the options (CONFIG_INVALID) and reads the device total for the budget. */
  static async create(options: SlotPoolOptions): Promise<SlotPool> {
    const { backend, logger, clock, ...settings } = options;
    const parsed = parseOrThrow(slotPoolSettingsSchema, settings, 'CONFIG_INVALID', 'slot pool options');
    const ids = new Set<string>();
    for (const model of parsed.models) {
      if (ids.has(model.id)) {
        throw new ClawError('CONFIG_INVALID', `Invalid slot pool options: model id \`${model.id}\` is listed twice`);
      }
      ids.add(model.id);
    }
    const device = await backend.memoryState();
    const budgetBytes = Math.min(parsed.memoryBudgetBytes ?? device.totalBytes, device.totalBytes);
    return new SlotPool({ ...options, ...parsed }, budgetBytes);
  }

  get budgetBytes(): number {
    return this.#budgetBytes;
  }

  /**
   * Waits for a slot and returns its lease. Rejects with INVALID_PARAMS, NOT_FOUND (unknown model),
   * QUEUE_FULL, CANCELLED (signal or `cancelAgent`), TIMEOUT (deadline), MODEL_TOO_LARGE,
   * INSUFFICIENT_MEMORY, the backend's load error, or SHUTTING_DOWN.
   */
  acquire(request: SlotRequest): Promise<SlotLease> {
    const { signal, ...fields } = request;
    let parsed: Omit<SlotRequest, 'signal'>;
    try {
      parsed = parseOrThrow(slotRequestSchema, fields, 'INVALID_PARAMS', 'slot request');
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#disposed) return Promise.reject(new ClawError('SHUTTING_DOWN', 'The slot pool is shut down'));
    const model = this.#models.get(parsed.modelId);
    if (model === undefined) {
      return Promise.reject(
        new ClawError(
          'NOT_FOUND',
          `No model \`${parsed.modelId}\` is configured; configured: ${[...this.#models.keys()].join(', ')}`,
        ),
      );
    }
    if (signal?.aborted) return Promise.reject(cancelledError(signal));
    if (this.#queuedCount >= this.#maxQueued) {
      return Promise.reject(
        new ClawError('QUEUE_FULL', `The inference queue holds ${this.#queuedCount} requests, its maximum`),
      );
    }
    return new Promise<SlotLease>((resolve, reject) => {
      const controller = new AbortController();
      const pending: PendingRequest = {
        sequence: ++this.#sequence,
        agent: parsed.agent,
        modelId: parsed.modelId,
        priority: parsed.priority,
        rank: baseRank(parsed.priority),
        prefix: parsed.prefix,
        enqueuedAt: this.#clock(),
        state: 'queued',
        controller,
        resolve,
        reject,
        cleanup: () => {},
      };
      const onAbort = (): void => this.#cancel(pending, cancelledError(signal));
      signal?.addEventListener('abort', onAbort, { once: true });
      const timer =
        parsed.timeoutMs === undefined
          ? undefined
          : setTimeout(
              () =>
                this.#cancel(
                  pending,
                  new ClawError('TIMEOUT', `The inference request passed its ${parsed.timeoutMs} ms deadline`),
                ),
              parsed.timeoutMs,
            );
      pending.cleanup = () => {
        signal?.removeEventListener('abort', onAbort);
        if (timer !== undefined) clearTimeout(timer);
      };
      this.#queues[pending.rank]?.push(pending);
      this.#queuedCount++;
      increment(model.queuedByAgent, pending.agent, 1);
      this.#requestPass();
    });
  }

  /** Cancels every queued and running request of this agent (on its disconnect). Returns how many. */
  cancelAgent(agent: string, error?: ClawError): number {
    const reason = error ?? new ClawError('CANCELLED', `Requests of agent \`${agent}\` were cancelled`);
    const victims: PendingRequest[] = [];
    for (const queue of this.#queues) for (const pending of queue) if (pending.agent === agent) victims.push(pending);
    for (const pending of this.#running) if (pending.agent === agent) victims.push(pending);
    for (const pending of victims) this.#cancel(pending, reason);
    return victims.length;
  }

  status(): SlotPoolStatus {
    return {
      queued: this.#queuedCount,
      running: this.#running.size,
      permitsInUse: this.#permitsInUse,
      maxConcurrent: this.#maxConcurrent,
      budgetBytes: this.#budgetBytes,
      reservedBytes: this.#reservedBytes,
      models: [...this.#models.values()].map((model) => ({
        id: model.spec.id,
        state: model.state,
        reservedBytes: model.reservedBytes,
        busySlots: model.busyCount,
        slots: model.spec.slots,
        closing: model.closing,
      })),
    };
  }

  /** Refuses queued requests, aborts running ones, waits for their leases, unloads the models. */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    const error = new ClawError('SHUTTING_DOWN', 'The slot pool is shutting down');
    this.#disposeController.abort(error);
    for (const queue of this.#queues) for (const pending of [...queue]) this.#cancel(pending, error);
    for (const pending of [...this.#running]) pending.controller.abort(error);
    if (this.#running.size > 0 || this.#memoryPlanActive) {
      await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    }
    for (const model of this.#models.values()) {
      if (model.state !== 'loaded') continue;
      try {
        await this.#backend.unloadModel(model.spec.id);
      } catch (unloadError) {
        this.#logger.warn({ err: unloadError, model: model.spec.id }, 'unloading a model at shutdown failed');
      }
      this.#forgetModel(model);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  #requestPass(): void {
    if (this.#passScheduled || this.#disposed) return;
    this.#passScheduled = true;
    queueMicrotask(() => {
      this.#passScheduled = false;
      this.#pass();
    });
  }

  /**
   * Walks queued requests best-first: (effective rank, enqueue time). The head of each class queue
   * is that class's best, so a 5-way merge gives the global order without sorting.
   */
  #pass(): void {
    if (this.#disposed) return;
    const now = this.#clock();
    this.#checkMemoryWaiter();
    // Walks the live queues without copying them: dispatching removes the request at its
    // position (the next one moves into it), skipping advances the position. Nothing else changes
    // the queues during this synchronous pass.
    const queues = this.#queues;
    const positions = queues.map(() => 0);
    while (this.#permitsInUse < this.#maxConcurrent) {
      let bestClass = -1;
      let bestRank = Number.POSITIVE_INFINITY;
      let bestEnqueuedAt = Number.POSITIVE_INFINITY;
      for (let index = 0; index < queues.length; index++) {
        const candidate = queues[index]?.[positions[index] as number];
        if (candidate === undefined) continue;
        const rank = effectiveRank(candidate.rank, now - candidate.enqueuedAt, this.#agingIntervalMs);
        if (rank < bestRank || (rank === bestRank && candidate.enqueuedAt < bestEnqueuedAt)) {
          bestClass = index;
          bestRank = rank;
          bestEnqueuedAt = candidate.enqueuedAt;
        }
      }
      if (bestClass < 0) break;
      const position = positions[bestClass] as number;
      const pending = queues[bestClass]?.[position] as PendingRequest;
      const model = this.#models.get(pending.modelId) as ModelEntry;
      if (model.state === 'loaded' && !model.closing) {
        if (model.busyCount < model.slots.length && this.#fairnessAllows(pending, model)) {
          this.#dispatch(pending, model, now, position);
          continue;
        }
      } else if (model.state === 'unloaded' && !this.#memoryPlanActive && this.#memoryWaiter === undefined) {
        const queuedBefore = this.#queuedCount;
        this.#planLoad(model);
        // A refused model (MODEL_TOO_LARGE) fails its queued requests now: positions are stale.
        if (this.#queuedCount !== queuedBefore) {
          this.#requestPass();
          return;
        }
      }
      positions[bestClass] = position + 1;
    }
  }

  /**
   * Fair share = ceil(slots / agents with requests on this model). An agent at or above its share
   * is passed over while another agent below its share waits for the same model; with nobody else
   * waiting it may use every slot (the pool stays work-conserving). `human` requests are exempt: a
   * person is waiting, and they are rare by nature.
   */
  #fairnessAllows(pending: PendingRequest, model: ModelEntry): boolean {
    if (pending.priority === 'human') return true;
    const agents = new Set([...model.runningByAgent.keys(), ...model.queuedByAgent.keys()]);
    const share = Math.ceil(model.slots.length / Math.max(1, agents.size));
    if ((model.runningByAgent.get(pending.agent) ?? 0) < share) return true;
    for (const [agent, queued] of model.queuedByAgent) {
      if (agent !== pending.agent && queued > 0 && (model.runningByAgent.get(agent) ?? 0) < share) return false;
    }
    return true;
  }

  #dispatch(pending: PendingRequest, model: ModelEntry, now: number, position: number): void {
    const slot = chooseSlot(model.slots, pending.prefix) as SlotState;
    this.#removeQueued(pending, model, position);
    pending.state = 'running';
    this.#running.add(pending);
    this.#permitsInUse++;
    model.busyCount++;
    increment(model.runningByAgent, pending.agent, 1);
    slot.busy = true;
    slot.lastPrefix = pending.prefix;
    slot.lastUsedAt = now;
    model.lastUsedAt = now;
    const lease = new SlotLease({
      agent: pending.agent,
      model: model.loaded as LoadedModel,
      slot: slot.index,
      priority: pending.priority,
      queuedMs: now - pending.enqueuedAt,
      signal: pending.controller.signal,
      release: () => this.#release(pending, model, slot),
    });
    pending.resolve(lease);
  }

  #release(pending: PendingRequest, model: ModelEntry, slot: SlotState): void {
    pending.cleanup();
    pending.state = 'settled';
    this.#running.delete(pending);
    this.#permitsInUse--;
    model.busyCount--;
    increment(model.runningByAgent, pending.agent, -1);
    slot.busy = false;
    model.lastUsedAt = this.#clock();
    this.#notifyIdle();
    this.#requestPass();
  }

  #cancel(pending: PendingRequest, error: ClawError): void {
    if (pending.state === 'queued') {
      pending.cleanup();
      pending.state = 'settled';
      this.#removeQueued(pending, this.#models.get(pending.modelId) as ModelEntry);
      pending.reject(error);
      // A cancelled head-of-line request may unblock others (fairness, memory waiter).
      this.#requestPass();
    } else if (pending.state === 'running') {
      pending.controller.abort(error);
    }
  }

  #removeQueued(pending: PendingRequest, model: ModelEntry, position?: number): void {
    const queue = this.#queues[pending.rank] as PendingRequest[];
    const index = position !== undefined && queue[position] === pending ? position : queue.indexOf(pending);
    if (index >= 0) queue.splice(index, 1);
    this.#queuedCount--;
    increment(model.queuedByAgent, pending.agent, -1);
  }

  /**
   * Decides how `model` gets memory. Fits in the free budget: load now. Fits after unloading idle
   * models (least recently used first): unload those, then load. Fits only once busy models are
   * unloaded too: those stop taking leases and this model waits for them to drain. Never fits:
   * its requests fail with MODEL_TOO_LARGE.
   */
  #planLoad(model: ModelEntry): void {
    if (model.estimateBytes === undefined) {
      this.#estimate(model);
      return;
    }
    const need = model.estimateBytes;
    if (need > this.#budgetBytes) {
      this.#failQueuedFor(
        model,
        new ClawError(
          'MODEL_TOO_LARGE',
          `Model \`${model.spec.id}\` needs ${formatBytes(need)} but the memory budget is ${formatBytes(this.#budgetBytes)}`,
          { details: { modelId: model.spec.id, neededBytes: need, budgetBytes: this.#budgetBytes } },
        ),
      );
      return;
    }
    let free = this.#budgetBytes - this.#reservedBytes;
    const others = [...this.#models.values()]
      .filter((other) => other !== model && other.state === 'loaded')
      .sort((a, b) => a.lastUsedAt - b.lastUsedAt);
    const victims: ModelEntry[] = [];
    for (const other of others) {
      if (free >= need) break;
      if (other.busyCount === 0) {
        victims.push(other);
        free += other.reservedBytes;
      }
    }
    if (free >= need) {
      void this.#executeMemoryPlan(model, victims);
      return;
    }
    for (const other of others) {
      if (free >= need) break;
      if (other.busyCount > 0) {
        victims.push(other);
        free += other.reservedBytes;
      }
    }
    // `free` covers the need now: the budget holds it and every other reservation can be given back.
    for (const victim of victims) victim.closing = true;
    this.#memoryWaiter = model;
    this.#logger.info(
      { model: model.spec.id, draining: victims.map((victim) => victim.spec.id) },
      'waiting for busy models to drain to make room',
    );
    this.#checkMemoryWaiter();
  }

  /** Starts the waiter's plan once its victims are idle; drops it when nobody waits for it anymore. */
  #checkMemoryWaiter(): void {
    const waiter = this.#memoryWaiter;
    if (waiter === undefined || this.#memoryPlanActive) return;
    const closing = [...this.#models.values()].filter((model) => model.closing);
    if (countQueued(waiter) === 0) {
      this.#memoryWaiter = undefined;
      for (const model of closing) model.closing = false;
      return;
    }
    if (closing.some((model) => model.busyCount > 0)) return;
    this.#memoryWaiter = undefined;
    void this.#executeMemoryPlan(waiter, closing);
  }

  async #executeMemoryPlan(model: ModelEntry, victims: ModelEntry[]): Promise<void> {
    this.#memoryPlanActive = true;
    try {
      for (const victim of victims) {
        victim.state = 'unloading';
        try {
          await this.#backend.unloadModel(victim.spec.id);
        } catch (error) {
          // The device may still hold it; keep its reservation counted rather than overfill.
          this.#logger.error({ err: error, model: victim.spec.id }, 'unloading a model failed');
          victim.state = 'loaded';
          victim.closing = false;
          throw new ClawError('INSUFFICIENT_MEMORY', `Could not unload model \`${victim.spec.id}\` to make room`, {
            cause: error,
          });
        }
        this.#forgetModel(victim);
      }
      if (this.#disposed) return;
      const need = model.estimateBytes as number;
      const device = await this.#backend.memoryState();
      if (device.freeBytes < need) {
        throw new ClawError(
          'INSUFFICIENT_MEMORY',
          `Model \`${model.spec.id}\` needs ${formatBytes(need)} but the device has ${formatBytes(device.freeBytes)} free`,
          { details: { modelId: model.spec.id, neededBytes: need, freeBytes: device.freeBytes } },
        );
      }
      model.state = 'loading';
      model.reservedBytes = need;
      this.#reservedBytes += need;
      const loaded = await this.#backend.loadModel(model.spec, this.#disposeController.signal);
      // The measured size replaces the estimate; the larger one stays counted.
      const actual = Math.max(loaded.memoryBytes, need);
      this.#reservedBytes += actual - need;
      model.reservedBytes = actual;
      model.loaded = loaded;
      model.state = 'loaded';
      model.closing = false;
      model.lastUsedAt = this.#clock();
      model.slots = Array.from({ length: loaded.slots }, (_, index) => ({
        index,
        busy: false,
        lastPrefix: undefined,
        lastUsedAt: 0,
      }));
      this.#logger.info({ model: model.spec.id, bytes: actual }, 'model loaded');
    } catch (error) {
      if (model.state === 'loading') this.#forgetModel(model);
      this.#failQueuedFor(model, ClawError.from(error));
    } finally {
      this.#memoryPlanActive = false;
      this.#notifyIdle();
      this.#requestPass();
    }
  }

  #estimate(model: ModelEntry): void {
    if (model.estimating) return;
    model.estimating = true;
    this.#backend.estimateModelMemory(model.spec).then(
      (bytes) => {
        model.estimating = false;
        model.estimateBytes = bytes;
        this.#requestPass();
      },
      (error: unknown) => {
        model.estimating = false;
        this.#failQueuedFor(model, ClawError.from(error));
      },
    );
  }

  #forgetModel(model: ModelEntry): void {
    this.#reservedBytes -= model.reservedBytes;
    model.reservedBytes = 0;
    model.state = 'unloaded';
    model.loaded = undefined;
    model.closing = false;
    model.slots = [];
  }

  #failQueuedFor(model: ModelEntry, error: ClawError): void {
    for (const queue of this.#queues) {
      for (const pending of [...queue]) if (pending.modelId === model.spec.id) this.#cancel(pending, error);
    }
  }

  #notifyIdle(): void {
    if (this.#running.size > 0 || this.#memoryPlanActive) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const waiter of waiters) waiter();
  }
}

function countQueued(model: ModelEntry): number {
  let sum = 0;
  for (const count of model.queuedByAgent.values()) sum += count;
  return sum;
}

function increment(map: Map<string, number>, key: string, by: number): void {
  const next = (map.get(key) ?? 0) + by;
  if (next <= 0) map.delete(key);
  else map.set(key, next);
}

function cancelledError(signal: AbortSignal | undefined): ClawError {
  const reason: unknown = signal?.reason;
  if (reason instanceof ClawError) return reason;
  return new ClawError('CANCELLED', 'The inference request was cancelled by its caller', { cause: reason });
}

function formatBytes(bytes: number): string {
  return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}
