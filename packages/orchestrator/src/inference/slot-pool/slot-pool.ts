import { ClawError, type Logger, silentLogger } from '@clawfleet/protocol';
import type { InferenceBackend, LoadedModel } from '../backend.ts';
import { type LaneUse, type ModelEntry, ModelResidency, type ModelState } from './model-residency.ts';
import { chooseSlot, type SlotState } from './prefix-affinity.ts';
import { baseRank, effectiveRank, PRIORITY_CLASSES, type PriorityClass } from './priority.ts';
import { EmbeddingLease, SlotLease } from './slot-lease.ts';
import {
  DEFAULT_MAX_QUEUED_PER_AGENT,
  parseOrThrow,
  type SlotPoolOptions,
  type SlotRequest,
  slotPoolSettingsSchema,
} from './slot-pool-options.ts';

/** Embedding contexts per loaded model: one, so a model runs one embedding request at a time. */
const EMBEDDING_UNITS_PER_MODEL = 1;

type LaneName = 'generation' | 'embedding';

interface PendingRequest {
  sequence: number;
  lane: Lane;
  agent: string;
  modelId: string;
  priority: PriorityClass;
  rank: number;
  prefix: string | undefined;
  enqueuedAt: number;
  state: 'queued' | 'running' | 'settled';
  controller: AbortController;
  logger: Logger;
  resolve: (lease: SlotLease | EmbeddingLease) => void;
  reject: (error: ClawError) => void;
  cleanup: () => void;
}

/**
 * One lane of the pool: its own queues (one FIFO per priority class; within one, effective rank
 * never decreases from head to tail), its own concurrency limit, and per model its own units
 * (generation slots, or the embedding context). Priorities, aging and fairness are the same.
 */
interface Lane {
  readonly name: LaneName;
  readonly queues: PendingRequest[][];
  readonly limit: number;
  queued: number;
  inUse: number;
  use(model: ModelEntry): LaneUse;
  /** Units of this lane a loaded model has. */
  capacity(model: ModelEntry): number;
}

export interface SlotPoolModelStatus {
  id: string;
  state: ModelState;
  reservedBytes: number;
  busySlots: number;
  slots: number;
  /** Embedding requests running on this model (0 or 1). */
  busyEmbeddings: number;
  closing: boolean;
}

export interface SlotPoolStatus {
  /** Generation requests waiting. */
  queued: number;
  /** Generation requests waiting, per priority class (by the class they asked for, before aging). */
  queuedByPriority: Record<PriorityClass, number>;
  /** Generation leases held. */
  running: number;
  permitsInUse: number;
  maxConcurrent: number;
  embeddings: { queued: number; running: number; maxConcurrent: number };
  budgetBytes: number;
  reservedBytes: number;
  models: SlotPoolModelStatus[];
}

/**
 * The priority slot pool: lends generation slots and embedding turns to requests in priority
 * order, with aging, per-agent fairness and prefix affinity; models are loaded and unloaded within
 * a memory budget by {@link ModelResidency}.
 *
 * Two lanes share the models but not their capacity: generation (a slot of the model's context and
 * one of `maxConcurrent` permits) and embedding (the model's embedding context and one of
 * `maxConcurrentEmbeddings`). Retrieval in every agent cycle therefore never takes a generation
 * slot, and a flood of embeddings queues in its own lane.
 *
 * One synchronous scheduling pass decides everything, so its invariants hold between awaits:
 * - A request takes its unit and permit in the same step, and only on a model that is loaded: no
 *   request holds capacity while a model loads or memory is being freed (no deadlock between
 *   requests competing for memory).
 * - A model that is `closing` (being drained to make room) gets no new leases in either lane.
 *
 * p-queue does not fit this: it dequeues head-of-line whenever a permit is free, with a priority
 * fixed at insertion, while here the next request depends on which model has a free slot, which
 * agent holds how many slots, and how long each request has waited.
 */
export class SlotPool implements AsyncDisposable {
  readonly #backend: InferenceBackend;
  readonly #logger: Logger;
  readonly #clock: () => number;
  readonly #residency: ModelResidency;
  readonly #generation: Lane;
  readonly #embedding: Lane;
  readonly #running = new Set<PendingRequest>();
  readonly #agingIntervalMs: number;
  readonly #maxQueued: number;
  readonly #maxQueuedPerAgent: number;
  /** Queued requests per agent, both lanes and every model together (for `maxQueuedPerAgent`). */
  readonly #queuedByAgent = new Map<string, number>();
  #sequence = 0;
  #passScheduled = false;
  #disposed = false;
  #idleWaiters: (() => void)[] = [];

  private constructor(options: SlotPoolOptions, budgetBytes: number) {
    this.#backend = options.backend;
    this.#logger = (options.logger ?? silentLogger).child({ component: 'slot-pool' });
    this.#clock = options.clock ?? (() => performance.now());
    this.#agingIntervalMs = options.agingIntervalMs ?? 2000;
    this.#maxQueued = options.maxQueued ?? 10_000;
    this.#maxQueuedPerAgent = options.maxQueuedPerAgent ?? DEFAULT_MAX_QUEUED_PER_AGENT;
    this.#residency = new ModelResidency({
      backend: options.backend,
      models: options.models,
      budgetBytes,
      logger: this.#logger,
      clock: this.#clock,
      onLoadProgress: options.onLoadProgress,
      host: {
        requestPass: () => this.#requestPass(),
        failQueued: (model, error) => this.#failQueuedFor(model, error),
        planSettled: () => this.#notifyIdle(),
      },
    });
    const totalSlots = options.models.reduce((sum, spec) => sum + spec.slots, 0);
    this.#generation = {
      name: 'generation',
      queues: PRIORITY_CLASSES.map(() => []),
      limit: options.maxConcurrent ?? totalSlots,
      queued: 0,
      inUse: 0,
      use: (model) => model.generation,
      capacity: (model) => model.slots.length,
    };
    this.#embedding = {
      name: 'embedding',
      queues: PRIORITY_CLASSES.map(() => []),
      limit: options.maxConcurrentEmbeddings ?? options.models.length,
      queued: 0,
      inUse: 0,
      use: (model) => model.embedding,
      capacity: () => EMBEDDING_UNITS_PER_MODEL,
    };
  }

  /** Validates the options (CONFIG_INVALID) and reads the device total for the budget. */
  static async create(options: SlotPoolOptions): Promise<SlotPool> {
    const { backend, logger, clock, onLoadProgress, ...settings } = options;
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
    return this.#residency.budgetBytes;
  }

  /** The configured models' context sizes (tokens per slot), by id. */
  contextSizes(): Map<string, number> {
    return new Map([...this.#residency.models.values()].map((model) => [model.spec.id, model.spec.contextSize]));
  }

  /**
   * Waits for a generation slot and returns its lease; `lease.generate(...)` runs on it. Rejects
   * with INVALID_PARAMS (unknown priority), NOT_FOUND (unknown model), QUEUE_FULL, CANCELLED (signal
   * or `cancelAgent`), TIMEOUT (deadline), MODEL_TOO_LARGE, INSUFFICIENT_MEMORY, the backend's load
   * error, or SHUTTING_DOWN.
   */
  acquire(request: SlotRequest): Promise<SlotLease> {
    return this.#enqueue(this.#generation, request) as Promise<SlotLease>;
  }

  /**
   * Waits for a turn on the model's embedding context, in the embedding lane (its own queue and
   * limit, the same priorities and fairness); `lease.embed(texts)` runs it. Rejects as `acquire`.
   */
  acquireEmbedding(request: Omit<SlotRequest, 'prefix'>): Promise<EmbeddingLease> {
    return this.#enqueue(this.#embedding, request) as Promise<EmbeddingLease>;
  }

  /**
   * Loads a configured model now (within the budget, as a request would), so the first request
   * does not wait for it. Resolves once it is loaded; rejects with the load's error.
   */
  preload(modelId: string): Promise<void> {
    if (this.#disposed) return Promise.reject(new ClawError('SHUTTING_DOWN', 'The slot pool is shut down'));
    const model = this.#residency.models.get(modelId);
    if (model === undefined) return Promise.reject(this.#unknownModel(modelId));
    return this.#residency.preload(model);
  }

  #unknownModel(modelId: string): ClawError {
    return new ClawError(
      'NOT_FOUND',
      `No model \`${modelId}\` is configured; configured: ${[...this.#residency.models.keys()].join(', ')}`,
    );
  }

  // The request's fields are typed by the caller (the service, which validated the wire params):
  // only what the types cannot rule out is checked here.
  #enqueue(lane: Lane, request: SlotRequest): Promise<SlotLease | EmbeddingLease> {
    const { signal } = request;
    const rank = baseRank(request.priority);
    if (rank < 0) {
      return Promise.reject(
        new ClawError(
          'INVALID_PARAMS',
          `Expected \`priority\` to be one of ${PRIORITY_CLASSES.join(', ')}, got \`${String(request.priority)}\``,
          { details: { field: 'priority' } },
        ),
      );
    }
    if (this.#disposed) return Promise.reject(new ClawError('SHUTTING_DOWN', 'The slot pool is shut down'));
    const model = this.#residency.models.get(request.modelId);
    if (model === undefined) return Promise.reject(this.#unknownModel(request.modelId));
    if (signal?.aborted) return Promise.reject(cancelledError(signal));
    const queued = this.#generation.queued + this.#embedding.queued;
    if (queued >= this.#maxQueued) {
      return Promise.reject(new ClawError('QUEUE_FULL', `The inference queue holds ${queued} requests, its maximum`));
    }
    const queuedForAgent = this.#queuedByAgent.get(request.agent) ?? 0;
    if (queuedForAgent >= this.#maxQueuedPerAgent) {
      return Promise.reject(
        new ClawError(
          'QUEUE_FULL',
          `Agent \`${request.agent}\` has ${queuedForAgent} inference requests queued, its maximum (maxQueuedPerAgent)`,
        ),
      );
    }
    return new Promise<SlotLease | EmbeddingLease>((resolve, reject) => {
      const controller = new AbortController();
      const pending: PendingRequest = {
        sequence: ++this.#sequence,
        lane,
        agent: request.agent,
        modelId: request.modelId,
        priority: request.priority,
        rank,
        prefix: request.prefix,
        enqueuedAt: this.#clock(),
        state: 'queued',
        controller,
        logger: request.logger ?? this.#logger,
        resolve,
        reject,
        cleanup: () => {},
      };
      const onAbort = (): void => this.#cancel(pending, cancelledError(signal));
      signal?.addEventListener('abort', onAbort, { once: true });
      const { timeoutMs } = request;
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(
              () =>
                this.#cancel(
                  pending,
                  new ClawError('TIMEOUT', `The inference request passed its ${timeoutMs} ms deadline`),
                ),
              timeoutMs,
            );
      pending.cleanup = () => {
        signal?.removeEventListener('abort', onAbort);
        if (timer !== undefined) clearTimeout(timer);
      };
      lane.queues[rank]?.push(pending);
      lane.queued++;
      this.#queuedByAgent.set(pending.agent, queuedForAgent + 1);
      increment(lane.use(model).queuedByAgent, pending.agent, 1);
      this.#requestPass();
    });
  }

  /** Cancels every queued and running request of this agent (on its disconnect). Returns how many. */
  cancelAgent(agent: string, error?: ClawError): number {
    const reason = error ?? new ClawError('CANCELLED', `Requests of agent \`${agent}\` were cancelled`);
    const victims: PendingRequest[] = [];
    for (const lane of [this.#generation, this.#embedding]) {
      for (const queue of lane.queues) for (const pending of queue) if (pending.agent === agent) victims.push(pending);
    }
    for (const pending of this.#running) if (pending.agent === agent) victims.push(pending);
    for (const pending of victims) this.#cancel(pending, reason);
    return victims.length;
  }

  status(): SlotPoolStatus {
    return {
      queued: this.#generation.queued,
      queuedByPriority: Object.fromEntries(
        PRIORITY_CLASSES.map((name, rank) => [name, this.#generation.queues[rank]?.length ?? 0]),
      ) as Record<PriorityClass, number>,
      running: this.#generation.inUse,
      permitsInUse: this.#generation.inUse,
      maxConcurrent: this.#generation.limit,
      embeddings: {
        queued: this.#embedding.queued,
        running: this.#embedding.inUse,
        maxConcurrent: this.#embedding.limit,
      },
      budgetBytes: this.#residency.budgetBytes,
      reservedBytes: this.#residency.reservedBytes,
      models: [...this.#residency.models.values()].map((model) => ({
        id: model.spec.id,
        state: model.state,
        reservedBytes: model.reservedBytes,
        busySlots: model.generation.busy,
        slots: model.spec.slots,
        busyEmbeddings: model.embedding.busy,
        closing: model.closing,
      })),
    };
  }

  /** Refuses queued requests, aborts running ones, waits for their leases, unloads the models. */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    const error = new ClawError('SHUTTING_DOWN', 'The slot pool is shutting down');
    this.#residency.beginDispose(error);
    for (const lane of [this.#generation, this.#embedding]) {
      for (const queue of lane.queues) for (const pending of [...queue]) this.#cancel(pending, error);
    }
    for (const pending of [...this.#running]) pending.controller.abort(error);
    if (this.#running.size > 0 || this.#residency.planActive) {
      await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    }
    await this.#residency.unloadAll();
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

  #pass(): void {
    if (this.#disposed) return;
    const now = this.#clock();
    this.#residency.checkWaiter();
    if (this.#generation.queued > 0 && !this.#passLane(this.#generation, now)) return;
    if (this.#embedding.queued > 0 && !this.#passLane(this.#embedding, now)) return;
    this.#residency.planPreloads();
  }

  /**
   * Walks one lane's queued requests best-first: (effective rank, enqueue time). The head of each
   * class queue is that class's best, so a 5-way merge gives the lane's order without sorting.
   * Returns false when the queues changed under the walk (a refused model failed its requests);
   * another pass is then scheduled.
   */
  #passLane(lane: Lane, now: number): boolean {
    // Walks the live queues without copying them: dispatching removes the request at its position
    // (the next one moves into it), skipping advances the position. Nothing else changes the
    // queues during this synchronous pass.
    const queues = lane.queues;
    const positions = queues.map(() => 0);
    while (lane.inUse < lane.limit) {
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
      const model = this.#residency.models.get(pending.modelId) as ModelEntry;
      if (model.state === 'loaded' && !model.closing) {
        if (lane.use(model).busy < lane.capacity(model) && this.#fairnessAllows(lane, pending, model)) {
          this.#dispatch(pending, model, now, position);
          continue;
        }
      } else if (model.state === 'unloaded' && this.#residency.canPlan) {
        const queuedBefore = lane.queued;
        this.#residency.plan(model);
        // A refused model (MODEL_TOO_LARGE) fails its queued requests now: positions are stale.
        if (lane.queued !== queuedBefore) {
          this.#requestPass();
          return false;
        }
      }
      positions[bestClass] = position + 1;
    }
    return true;
  }

  /**
   * Fair share = ceil(units / agents with requests in this lane on this model). An agent at or
   * above its share is passed over while another agent below its share waits for the same model;
   * with nobody else waiting it may use every unit (the pool stays work-conserving). This holds in
   * every priority class, `human` included: a class decides the order among waiting requests, not
   * how many units one identity may hold while others wait.
   */
  #fairnessAllows(lane: Lane, pending: PendingRequest, model: ModelEntry): boolean {
    const use = lane.use(model);
    const agents = new Set([...use.runningByAgent.keys(), ...use.queuedByAgent.keys()]);
    const share = Math.ceil(lane.capacity(model) / Math.max(1, agents.size));
    if ((use.runningByAgent.get(pending.agent) ?? 0) < share) return true;
    for (const [agent, queued] of use.queuedByAgent) {
      if (agent !== pending.agent && queued > 0 && (use.runningByAgent.get(agent) ?? 0) < share) return false;
    }
    return true;
  }

  #dispatch(pending: PendingRequest, model: ModelEntry, now: number, position: number): void {
    const lane = pending.lane;
    this.#removeQueued(pending, model, position);
    pending.state = 'running';
    this.#running.add(pending);
    lane.inUse++;
    const use = lane.use(model);
    use.busy++;
    increment(use.runningByAgent, pending.agent, 1);
    model.lastUsedAt = now;
    const common = {
      agent: pending.agent,
      model: model.loaded as LoadedModel,
      priority: pending.priority,
      queuedMs: now - pending.enqueuedAt,
      signal: pending.controller.signal,
      backend: this.#backend,
    };
    if (lane.name === 'embedding') {
      pending.logger.debug({ lane: lane.name, queuedMs: common.queuedMs }, 'lease granted');
      pending.resolve(new EmbeddingLease({ ...common, release: () => this.#release(pending, model, undefined) }));
      return;
    }
    const slot = chooseSlot(model.slots, pending.prefix) as SlotState;
    slot.busy = true;
    slot.lastPrefix = pending.prefix;
    slot.lastUsedAt = now;
    pending.logger.debug({ lane: lane.name, slot: slot.index, queuedMs: common.queuedMs }, 'lease granted');
    pending.resolve(
      new SlotLease({
        ...common,
        slot: slot.index,
        prefix: pending.prefix,
        release: () => this.#release(pending, model, slot),
      }),
    );
  }

  #release(pending: PendingRequest, model: ModelEntry, slot: SlotState | undefined): void {
    pending.cleanup();
    pending.state = 'settled';
    this.#running.delete(pending);
    const lane = pending.lane;
    lane.inUse--;
    const use = lane.use(model);
    use.busy--;
    increment(use.runningByAgent, pending.agent, -1);
    if (slot !== undefined) slot.busy = false;
    model.lastUsedAt = this.#clock();
    this.#notifyIdle();
    this.#requestPass();
  }

  #cancel(pending: PendingRequest, error: ClawError): void {
    if (pending.state === 'queued') {
      pending.cleanup();
      pending.state = 'settled';
      this.#removeQueued(pending, this.#residency.models.get(pending.modelId) as ModelEntry);
      pending.logger.debug({ code: error.code }, 'queued request ended');
      pending.reject(error);
      // A cancelled head-of-line request may unblock others (fairness, memory waiter).
      this.#requestPass();
    } else if (pending.state === 'running') {
      pending.controller.abort(error);
    }
  }

  #removeQueued(pending: PendingRequest, model: ModelEntry, position?: number): void {
    const lane = pending.lane;
    const queue = lane.queues[pending.rank] as PendingRequest[];
    const index = position !== undefined && queue[position] === pending ? position : queue.indexOf(pending);
    if (index >= 0) queue.splice(index, 1);
    lane.queued--;
    increment(this.#queuedByAgent, pending.agent, -1);
    increment(lane.use(model).queuedByAgent, pending.agent, -1);
  }

  #failQueuedFor(model: ModelEntry, error: ClawError): void {
    for (const lane of [this.#generation, this.#embedding]) {
      for (const queue of lane.queues) {
        for (const pending of [...queue]) if (pending.modelId === model.spec.id) this.#cancel(pending, error);
      }
    }
  }

  #notifyIdle(): void {
    if (this.#running.size > 0 || this.#residency.planActive) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const waiter of waiters) waiter();
  }
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
