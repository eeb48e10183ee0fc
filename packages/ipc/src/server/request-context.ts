import type { ZodType } from 'zod';

/**
 * The part of a connection a handler may use: who is on it, whether it is still open, and a way to
 * push events to it. Closing the connection or failing it is the server's business, not a
 * handler's, so those are not here.
 */
export interface PeerConnection {
  /** Unique per server run, for logs. */
  readonly id: string;
  /** The authenticated agent name; fixed for the connection's life. */
  readonly identity: string;
  readonly closed: boolean;
  /** Aborted when the connection closes, for whatever reason. */
  readonly signal: AbortSignal;
  /**
   * Sends an `event` frame. A peer that leaves more than twice the byte budget unread is
   * disconnected with SLOW_CONSUMER rather than allowed to grow the server's memory.
   */
  push(topic: string, data: unknown, subscriptionId?: number): void;
}

/** What a handler learns about the request it serves. */
export interface RequestContext {
  /** The authenticated identity of the caller; fixed for the connection's life. */
  readonly identity: string;
  readonly connection: PeerConnection;
  readonly requestId: number;
  /** Aborted on a cancel frame, the request's timeout, the connection closing, or shutdown. */
  readonly signal: AbortSignal;
  /** Whether `signal` has aborted; cheaper to poll than `signal.aborted`, which creates the signal. */
  readonly aborted: boolean;
  /**
   * Sends a `stream-delta`. Once used, the reply ends with `stream-end` carrying the handler's
   * return value. Resolves when the socket can take more: await it to respect backpressure.
   */
  sendDelta(data: unknown): Promise<void>;
}

/** A request handler with the schema its params must match. */
export interface MethodHandler<Params = unknown, Result = unknown> {
  params: ZodType<Params>;
  handler: (params: Params, context: RequestContext) => Promise<Result> | Result;
}
