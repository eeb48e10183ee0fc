import type { Logger } from '@clawfleet/protocol';
import type { ZodType } from 'zod';
import type { RateLimitedLog } from '../shared/rate-limited-log.ts';
import type { TimeoutQueue } from '../shared/timeout-queue.ts';
import type { RequestContext, ServerConnection } from './server-connection.ts';

/** A request handler with the schema its params must match. */
export interface MethodHandler<Params = unknown, Result = unknown> {
  params: ZodType<Params>;
  handler: (params: Params, context: RequestContext) => Promise<Result> | Result;
}

export interface ResolvedServerOptions {
  maxFrameBytes: number;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  handshakeTimeoutMs: number;
  maxInFlightPerConnection: number;
  maxQueuedBytesPerConnection: number;
  capabilities: string[];
}

/** What a connection needs from its server; keeps ServerConnection independent of IpcServer. */
export interface ServerInternals {
  readonly options: ResolvedServerOptions;
  readonly methods: ReadonlyMap<string, MethodHandler>;
  readonly logger: Logger;
  readonly badPeerLog: RateLimitedLog;
  readonly closing: boolean;
  /** Request deadlines of every connection. */
  readonly timeouts: TimeoutQueue;
  authenticate(agent: string, token: string): boolean;
  connectionOpened(connection: ServerConnection): void;
  connectionClosed(connection: ServerConnection, wasOpen: boolean): void;
}
