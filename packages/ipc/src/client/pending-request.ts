import { ClawError, type Frame, isClawError } from '@clawfleet/protocol';
import type { TimeoutEntry, TimeoutQueue } from '../shared/timeout-queue.ts';

/**
 * The requests of one client awaiting their replies, by id. Ids wrap within u32 and skip any still
 * in flight. Each request removes itself when it settles, whichever way.
 */
export class PendingRequests {
  readonly #table = new Map<number, PendingRequest>();
  readonly #timeouts: TimeoutQueue;
  #nextId = 1;

  constructor(timeouts: TimeoutQueue) {
    this.#timeouts = timeouts;
  }

  get size(): number {
    return this.#table.size;
  }

  get(id: number): PendingRequest | undefined {
    return this.#table.get(id);
  }

  /** Registers a request under a fresh id; `write` sends its cancel frame if it is cancelled. */
  open(
    method: string,
    onDelta: ((data: unknown) => void) | undefined,
    signal: AbortSignal | undefined,
    write: (frame: Frame) => void,
  ): PendingRequest {
    do {
      this.#nextId = this.#nextId >= 0xffff_ffff ? 1 : this.#nextId + 1;
    } while (this.#table.has(this.#nextId));
    const request = new PendingRequest(this.#table, this.#timeouts, this.#nextId, method, onDelta, signal, write);
    this.#table.set(request.id, request);
    return request;
  }

  /** Rejects every pending request with `error` (the connection dropped, or the client closed). */
  failAll(error: ClawError): void {
    // Each entry removes itself from the table as it settles.
    for (const entry of [...this.#table.values()]) entry.reject(error);
  }
}

/**
 * A request awaiting its reply. It is its own abort listener (`handleEvent`) and its timer gets it
 * as an argument, so a request allocates no closures on the hot path.
 */
export class PendingRequest {
  readonly id: number;
  readonly promise: Promise<unknown>;
  readonly onDelta: ((data: unknown) => void) | undefined;
  timeout: TimeoutEntry | undefined;
  readonly #timeouts: TimeoutQueue;
  #timeoutMs = 0;
  readonly #table: Map<number, PendingRequest>;
  readonly #method: string;
  readonly #signal: AbortSignal | undefined;
  readonly #write: (frame: Frame) => void;
  #resolve!: (value: unknown) => void;
  #reject!: (error: ClawError) => void;

  constructor(
    table: Map<number, PendingRequest>,
    timeouts: TimeoutQueue,
    id: number,
    method: string,
    onDelta: ((data: unknown) => void) | undefined,
    signal: AbortSignal | undefined,
    write: (frame: Frame) => void,
  ) {
    this.#table = table;
    this.#timeouts = timeouts;
    this.id = id;
    this.#method = method;
    this.onDelta = onDelta;
    this.#signal = signal;
    this.#write = write;
    this.promise = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    signal?.addEventListener('abort', this, { once: true });
  }

  get method(): string {
    return this.#method;
  }

  resolve(value: unknown): void {
    if (this.#settle()) this.#resolve(value);
  }

  reject(error: ClawError): void {
    if (this.#settle()) this.#reject(error);
  }

  /** Rejects locally and tells the server to stop. */
  cancel(error: ClawError): void {
    if (!this.#settle()) return;
    this.#write({ type: 'cancel', id: this.id, reason: error.message.slice(0, 1024) });
    this.#reject(error);
  }

  /** Starts the request's timeout; `timeoutMs` is what the caller asked for, for the message. */
  startTimeout(remainingMs: number, timeoutMs: number): void {
    this.#timeoutMs = timeoutMs;
    this.timeout = this.#timeouts.add(remainingMs, this);
  }

  /** The timeout passed. */
  expire(): void {
    this.cancel(new ClawError('TIMEOUT', `\`${this.#method}\` did not complete within ${this.#timeoutMs} ms`));
  }

  /** The caller's signal aborted. */
  handleEvent(): void {
    this.cancel(abortReason(this.#signal!));
  }

  #settle(): boolean {
    if (this.#table.get(this.id) !== this) return false;
    this.#table.delete(this.id);
    if (this.timeout) this.#timeouts.cancel(this.timeout);
    this.#signal?.removeEventListener('abort', this);
    return true;
  }
}

/** The ClawError a caller's aborted signal stands for: its reason when that is one, else CANCELLED. */
export function abortReason(signal: AbortSignal): ClawError {
  const reason: unknown = signal.reason;
  if (isClawError(reason)) return reason;
  return new ClawError('CANCELLED', reason instanceof Error ? reason.message : 'Request was aborted', {
    cause: reason,
  });
}
