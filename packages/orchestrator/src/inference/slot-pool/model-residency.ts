import { ClawError, type Logger } from '@clawfleet/protocol';
import type { InferenceBackend, LoadedModel, ModelSpec } from '../backend.ts';
import type { SlotState } from './prefix-affinity.ts';

export type ModelState = 'unloaded' | 'loading' | 'loaded' | 'unloading';

/** One lane's use of one model: how many of its units are busy, who runs and who waits. */
export interface LaneUse {
  busy: number;
  runningByAgent: Map<string, number>;
  queuedByAgent: Map<string, number>;
}

/** What the pool knows about one configured model. The residency owns its memory fields. */
export interface ModelEntry {
  spec: ModelSpec;
  state: ModelState;
  loaded: LoadedModel | undefined;
  /** Bytes counted against the budget while loading, loaded or unloading. */
  reservedBytes: number;
  estimateBytes: number | undefined;
  estimating: boolean;
  /** Generation slots (one context sequence each); empty unless loaded. */
  slots: SlotState[];
  generation: LaneUse;
  embedding: LaneUse;
  lastUsedAt: number;
  /** Chosen to make room for another model: no new leases; unloaded once idle. */
  closing: boolean;
  /** Callers of `preload` waiting for this model to be loaded. */
  preloads: { resolve: () => void; reject: (error: ClawError) => void }[];
}

/** What the residency needs from the scheduler that owns the queues. */
export interface ResidencyHost {
  /** A load or unload ended: leases may be possible now. */
  requestPass(): void;
  /** Fails every queued request (of either lane) for this model. */
  failQueued(model: ModelEntry, error: ClawError): void;
  /** A memory plan ended; the pool may be idle now. */
  planSettled(): void;
}

export interface ModelResidencyOptions {
  backend: InferenceBackend;
  models: readonly ModelSpec[];
  budgetBytes: number;
  host: ResidencyHost;
  logger: Logger;
  clock: () => number;
  onLoadProgress: ((event: { modelId: string; progress: number }) => void) | undefined;
}

function emptyLane(): LaneUse {
  return { busy: 0, runningByAgent: new Map(), queuedByAgent: new Map() };
}

/**
 * Model residency: which models are in device memory, and the memory budget they share.
 *
 * Invariants:
 * - The sum of reservations never exceeds the budget: a model's reservation is taken before its
 *   load starts and given back only after its unload finished.
 * - At most one memory plan (unload victims, then load) runs at a time; while the model of the
 *   highest-ranked request waits for memory held by busy models, those models are `closing` (the
 *   scheduler gives them no new leases), so they drain.
 */
export class ModelResidency {
  readonly models = new Map<string, ModelEntry>();
  readonly budgetBytes: number;
  readonly #backend: InferenceBackend;
  readonly #host: ResidencyHost;
  readonly #logger: Logger;
  readonly #clock: () => number;
  readonly #onLoadProgress: ModelResidencyOptions['onLoadProgress'];
  readonly #disposeController = new AbortController();
  #reservedBytes = 0;
  #planActive = false;
  /** The model the highest-ranked request is waiting to load while busy models drain. */
  #waiter: ModelEntry | undefined;
  #disposed = false;
  /** Models with `preload` callers waiting; lets a scheduling pass skip `planPreloads` cheaply. */
  #preloading = 0;

  constructor(options: ModelResidencyOptions) {
    this.#backend = options.backend;
    this.#host = options.host;
    this.#logger = options.logger;
    this.#clock = options.clock;
    this.#onLoadProgress = options.onLoadProgress;
    this.budgetBytes = options.budgetBytes;
    for (const spec of options.models) {
      this.models.set(spec.id, {
        spec: { ...spec },
        state: 'unloaded',
        loaded: undefined,
        reservedBytes: 0,
        estimateBytes: undefined,
        estimating: false,
        slots: [],
        generation: emptyLane(),
        embedding: emptyLane(),
        lastUsedAt: 0,
        closing: false,
        preloads: [],
      });
    }
  }

  get reservedBytes(): number {
    return this.#reservedBytes;
  }

  get planActive(): boolean {
    return this.#planActive;
  }

  /** True when a memory plan may start now (none runs and none waits for busy models to drain). */
  get canPlan(): boolean {
    return !this.#planActive && this.#waiter === undefined && !this.#disposed;
  }

  /** Resolves once the model is loaded (loading it within the budget if need be). */
  preload(model: ModelEntry): Promise<void> {
    if (model.state === 'loaded') return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      if (model.preloads.length === 0) this.#preloading++;
      model.preloads.push({ resolve, reject });
      this.#host.requestPass();
    });
  }

  /** Starts plans for preloaded models that nothing else is loading; called from each pass. */
  planPreloads(): void {
    if (this.#preloading === 0) return;
    for (const model of this.models.values()) {
      if (!this.canPlan) return;
      if (model.preloads.length > 0 && model.state === 'unloaded') this.plan(model);
    }
  }

  /**
   * Decides how `model` gets memory. Fits in the free budget: load now. Fits after unloading idle
   * models (least recently used first): unload those, then load. Fits only once busy models are
   * unloaded too: those stop taking leases and this model waits for them to drain. Never fits:
   * its requests fail with MODEL_TOO_LARGE.
   */
  plan(model: ModelEntry): void {
    if (model.estimateBytes === undefined) {
      this.#estimate(model);
      return;
    }
    const need = model.estimateBytes;
    if (need > this.budgetBytes) {
      this.#fail(
        model,
        new ClawError(
          'MODEL_TOO_LARGE',
          `Model \`${model.spec.id}\` needs ${formatBytes(need)} but the memory budget is ${formatBytes(this.budgetBytes)}`,
          { details: { modelId: model.spec.id, neededBytes: need, budgetBytes: this.budgetBytes } },
        ),
      );
      return;
    }
    let free = this.budgetBytes - this.#reservedBytes;
    const others = [...this.models.values()]
      .filter((other) => other !== model && other.state === 'loaded')
      .sort((a, b) => a.lastUsedAt - b.lastUsedAt);
    const victims: ModelEntry[] = [];
    for (const other of others) {
      if (free >= need) break;
      if (!isBusy(other)) {
        victims.push(other);
        free += other.reservedBytes;
      }
    }
    if (free >= need) {
      void this.#execute(model, victims);
      return;
    }
    for (const other of others) {
      if (free >= need) break;
      if (isBusy(other)) {
        victims.push(other);
        free += other.reservedBytes;
      }
    }
    // `free` covers the need now: the budget holds it and every other reservation can be given back.
    for (const victim of victims) victim.closing = true;
    this.#waiter = model;
    this.#logger.info(
      { model: model.spec.id, draining: victims.map((victim) => victim.spec.id) },
      'waiting for busy models to drain to make room',
    );
    this.checkWaiter();
  }

  /** Starts the waiter's plan once its victims are idle; drops it when nobody waits for it anymore. */
  checkWaiter(): void {
    const waiter = this.#waiter;
    if (waiter === undefined || this.#planActive) return;
    const closing = [...this.models.values()].filter((model) => model.closing);
    if (!isWanted(waiter)) {
      this.#waiter = undefined;
      for (const model of closing) model.closing = false;
      return;
    }
    if (closing.some(isBusy)) return;
    this.#waiter = undefined;
    void this.#execute(waiter, closing);
  }

  /** Stops waiting for loads, refuses preloads; `unloadAll` then frees the device. */
  beginDispose(error: ClawError): void {
    this.#disposed = true;
    this.#disposeController.abort(error);
    for (const model of this.models.values()) {
      for (const preload of this.#takePreloads(model)) preload.reject(error);
    }
  }

  async unloadAll(): Promise<void> {
    for (const model of this.models.values()) {
      if (model.state !== 'loaded') continue;
      try {
        await this.#backend.unloadModel(model.spec.id);
      } catch (unloadError) {
        this.#logger.warn({ err: unloadError, model: model.spec.id }, 'unloading a model at shutdown failed');
      }
      this.#forget(model);
    }
  }

  async #execute(model: ModelEntry, victims: ModelEntry[]): Promise<void> {
    this.#planActive = true;
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
        this.#forget(victim);
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
      const onProgress = this.#onLoadProgress;
      const loaded = await this.#backend.loadModel(model.spec, {
        signal: this.#disposeController.signal,
        ...(onProgress === undefined
          ? {}
          : { onProgress: (progress: number) => onProgress({ modelId: model.spec.id, progress }) }),
      });
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
      for (const preload of this.#takePreloads(model)) preload.resolve();
    } catch (error) {
      if (model.state === 'loading') this.#forget(model);
      this.#fail(model, ClawError.from(error));
    } finally {
      this.#planActive = false;
      this.#host.planSettled();
      this.#host.requestPass();
    }
  }

  #estimate(model: ModelEntry): void {
    if (model.estimating) return;
    model.estimating = true;
    this.#backend.estimateModelMemory(model.spec).then(
      (bytes) => {
        model.estimating = false;
        model.estimateBytes = bytes;
        this.#host.requestPass();
      },
      (error: unknown) => {
        model.estimating = false;
        this.#fail(model, ClawError.from(error));
      },
    );
  }

  #forget(model: ModelEntry): void {
    this.#reservedBytes -= model.reservedBytes;
    model.reservedBytes = 0;
    model.state = 'unloaded';
    model.loaded = undefined;
    model.closing = false;
    model.slots = [];
  }

  #takePreloads(model: ModelEntry): ModelEntry['preloads'] {
    if (model.preloads.length > 0) this.#preloading--;
    return model.preloads.splice(0);
  }

  #fail(model: ModelEntry, error: ClawError): void {
    for (const preload of this.#takePreloads(model)) preload.reject(error);
    this.#host.failQueued(model, error);
  }
}

/** A model with a generation or an embedding running cannot be unloaded now. */
export function isBusy(model: ModelEntry): boolean {
  return model.generation.busy > 0 || model.embedding.busy > 0;
}

function isWanted(model: ModelEntry): boolean {
  return model.generation.queuedByAgent.size > 0 || model.embedding.queuedByAgent.size > 0 || model.preloads.length > 0;
}

function formatBytes(bytes: number): string {
  return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}
