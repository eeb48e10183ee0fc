import { ClawError } from '@clawfleet/protocol';
import type { TimeoutEntry } from '../shared/timeout-queue.ts';
import type { PeerConnection, RequestContext } from './request-context.ts';

/** How a request sends its stream deltas; implemented by the connection. */
export interface DeltaSink {
  writeDelta(request: InFlightRequest, data: unknown): Promise<void>;
}

/**
 * One request being served, and the context its handler sees. The AbortController is created only
 * when a handler reads `signal` or the request is aborted: most requests finish without either,
 * and a controller per request was the server's largest per-request cost.
 */
export class InFlightRequest implements RequestContext {
  readonly identity: string;
  readonly connection: PeerConnection;
  readonly requestId: number;
  /** Whether a delta was sent, so the reply ends with `stream-end` rather than `response`. */
  streamed = false;
  /** Answered (or dropped with its connection): a later settle of its handler is ignored. */
  settled = false;
  done: Promise<void> = Promise.resolve();
  timeout: TimeoutEntry | undefined;
  readonly #sink: DeltaSink;
  #controller: AbortController | undefined;
  #aborted = false;
  #reason: unknown;

  constructor(identity: string, connection: PeerConnection, requestId: number, sink: DeltaSink) {
    this.identity = identity;
    this.connection = connection;
    this.requestId = requestId;
    this.#sink = sink;
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  get aborted(): boolean {
    return this.#aborted;
  }

  get abortReason(): unknown {
    return this.#reason;
  }

  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
  }

  /** Its `timeoutMs` passed (see TimeoutQueue). */
  expire(): void {
    this.abort(new ClawError('TIMEOUT', `Request ${this.requestId} exceeded its timeout`));
  }

  sendDelta(data: unknown): Promise<void> {
    return this.#sink.writeDelta(this, data);
  }
}
