import type { LoadedModel } from '../backend.ts';
import type { PriorityClass } from './priority.ts';

/**
 * A slot lent to one request: model, slot index and a concurrency permit. Releasing it (or
 * disposing it, which is the same, idempotently) gives all three back and lets the pool dispatch
 * the next request. `signal` aborts when the request is cancelled while running: by its caller,
 * its deadline, `cancelAgent`, or the pool shutting down; pass it to the backend call.
 */
export class SlotLease implements AsyncDisposable, Disposable {
  readonly agent: string;
  readonly model: LoadedModel;
  readonly slot: number;
  readonly priority: PriorityClass;
  /** Milliseconds between `acquire` and the lease. */
  readonly queuedMs: number;
  readonly signal: AbortSignal;
  #release: (() => void) | undefined;

  constructor(init: {
    agent: string;
    model: LoadedModel;
    slot: number;
    priority: PriorityClass;
    queuedMs: number;
    signal: AbortSignal;
    release: () => void;
  }) {
    this.agent = init.agent;
    this.model = init.model;
    this.slot = init.slot;
    this.priority = init.priority;
    this.queuedMs = init.queuedMs;
    this.signal = init.signal;
    this.#release = init.release;
  }

  get modelId(): string {
    return this.model.id;
  }

  get released(): boolean {
    return this.#release === undefined;
  }

  /** Gives the slot and permit back. Safe to call more than once. */
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
}
