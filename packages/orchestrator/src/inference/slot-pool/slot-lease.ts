import { ClawError } from '@clawfleet/protocol';
import type { EmbedResult, GenerateRequest, GenerateResult, InferenceBackend, LoadedModel } from '../backend.ts';
import type { PriorityClass } from './priority.ts';

/** A generation as a lease runs it: the lease supplies the model, the slot, the prefix and the signal. */
export type LeaseGenerateRequest = Omit<GenerateRequest, 'modelId' | 'slot' | 'prefix'>;

interface LeaseInit {
  agent: string;
  model: LoadedModel;
  priority: PriorityClass;
  queuedMs: number;
  signal: AbortSignal;
  backend: InferenceBackend;
  release: () => void;
}

/**
 * What every lease shares: who holds it, how long it waited, the signal that aborts its work, and
 * an idempotent release (also `dispose()`, `using`, `await using`) that gives the capacity back.
 * `signal` aborts when the request is cancelled while running: by its caller, its deadline,
 * `cancelAgent`, or the pool shutting down.
 */
abstract class Lease implements AsyncDisposable, Disposable {
  readonly agent: string;
  readonly model: LoadedModel;
  readonly priority: PriorityClass;
  /** Milliseconds between `acquire` and the lease. */
  readonly queuedMs: number;
  readonly signal: AbortSignal;
  protected readonly backend: InferenceBackend;
  #release: (() => void) | undefined;

  constructor(init: LeaseInit) {
    this.agent = init.agent;
    this.model = init.model;
    this.priority = init.priority;
    this.queuedMs = init.queuedMs;
    this.signal = init.signal;
    this.backend = init.backend;
    this.#release = init.release;
  }

  get modelId(): string {
    return this.model.id;
  }

  get released(): boolean {
    return this.#release === undefined;
  }

  /** Gives the capacity back. Safe to call more than once. */
  release(): void {
    const release = this.#release;
    this.#release = undefined;
    release?.();
  }

  dispose(): void {
    this.release();
  }

  [Symbol.dispose](): void {
    this.release();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.release();
  }

  /** The error of using a lease after its release (a programming error, so not retryable). */
  protected releasedError(): ClawError {
    return new ClawError('CONFLICT', `The lease of \`${this.agent}\` on model \`${this.modelId}\` was released`, {
      retryable: false,
    });
  }
}

/**
 * One generation slot (one context sequence) of a loaded model and a concurrency permit. The lease
 * is the handle that generates, as node-llama-cpp's sequence is: `lease.generate(...)` runs on its
 * slot with the prefix it was acquired for and stops when `signal` aborts. Nobody else addresses
 * the slot while the lease is held.
 */
export class SlotLease extends Lease {
  /** Index of the slot, for diagnostics; `generate` is the way to use it. */
  readonly slot: number;
  /** The prefix the slot was chosen for; every generation on this lease runs with it. */
  readonly prefix: string | undefined;

  constructor(init: LeaseInit & { slot: number; prefix: string | undefined }) {
    super(init);
    this.slot = init.slot;
    this.prefix = init.prefix;
  }

  generate(request: LeaseGenerateRequest, options: { onDelta?: (text: string) => void } = {}): Promise<GenerateResult> {
    if (this.released) return Promise.reject(this.releasedError());
    return this.backend.generate(
      { ...request, modelId: this.modelId, slot: this.slot, prefix: this.prefix },
      { signal: this.signal, ...(options.onDelta === undefined ? {} : { onDelta: options.onDelta }) },
    );
  }
}

/** A turn on a loaded model's embedding context, from the pool's embedding lane. */
export class EmbeddingLease extends Lease {
  embed(texts: string[]): Promise<EmbedResult> {
    if (this.released) return Promise.reject(this.releasedError());
    return this.backend.embed(this.modelId, texts, this.signal);
  }
}
