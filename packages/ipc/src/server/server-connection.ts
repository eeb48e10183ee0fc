import type { Socket } from 'node:net';
import {
  ClawError,
  type Frame,
  FrameDecoder,
  type HelloFrame,
  isClawError,
  PROTOCOL_VERSION,
  parseOrThrow,
  type RequestFrame,
} from '@clawfleet/protocol';
import { FrameWriter } from '../shared/frame-writer.ts';
import { type DeltaSink, InFlightRequest } from './in-flight-request.ts';
import type { MethodHandler, ServerInternals } from './server-internals.ts';

/** What a handler learns about the request it serves. */
export interface RequestContext {
  /** The authenticated identity of the caller; fixed for the connection's life. */
  readonly identity: string;
  readonly connection: ServerConnection;
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

type State = 'handshake' | 'open' | 'closed';

const RESOLVED = Promise.resolve();

/**
 * One peer connection on the server side. Before the handshake it accepts only `hello`; after it,
 * its identity is fixed and every request is dispatched with that identity.
 */
export class ServerConnection {
  readonly id: string;
  #identity = '';
  #state: State = 'handshake';
  readonly #socket: Socket;
  readonly #decoder: FrameDecoder;
  readonly #writer: FrameWriter;
  readonly #server: ServerInternals;
  readonly #closed = new AbortController();
  readonly #inFlight = new Map<number, InFlightRequest>();
  readonly #handshakeTimer: NodeJS.Timeout;
  #lastSeen = Date.now();
  /** Whether the handshake completed at some point; `disconnect` is emitted for these only. */
  #wasOpen = false;
  #pausedForLoad = false;
  #pingNonce = 0;

  constructor(id: string, socket: Socket, server: ServerInternals) {
    this.id = id;
    this.#socket = socket;
    this.#server = server;
    this.#decoder = new FrameDecoder({ maxFrameBytes: server.options.maxFrameBytes });
    this.#writer = new FrameWriter(socket, server.options.maxFrameBytes);
    this.#handshakeTimer = setTimeout(() => {
      this.fail(new ClawError('HANDSHAKE_TIMEOUT', `No hello within ${server.options.handshakeTimeoutMs} ms`));
    }, server.options.handshakeTimeoutMs);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (error) => this.#server.badPeerLog.warn({ connectionId: id, err: error }, 'socket error'));
    socket.on('close', () => this.#onClosed());
    socket.on('drain', () => this.#maybeResume());
  }

  /** The authenticated agent name; empty until the handshake completes. */
  get identity(): string {
    return this.#identity;
  }

  get authenticated(): boolean {
    return this.#state === 'open';
  }

  get closed(): boolean {
    return this.#state === 'closed';
  }

  /** Aborted when the connection closes, for whatever reason. */
  get signal(): AbortSignal {
    return this.#closed.signal;
  }

  get inFlightCount(): number {
    return this.#inFlight.size;
  }

  get lastSeen(): number {
    return this.#lastSeen;
  }

  /**
   * Sends an `event` frame to this peer. A peer that lets more than `maxQueuedBytesPerConnection`
   * pile up unread is disconnected with SLOW_CONSUMER rather than allowed to grow our memory.
   */
  push(topic: string, data: unknown, subscriptionId?: number): void {
    if (this.#state !== 'open') return;
    const frame: Frame =
      subscriptionId === undefined ? { type: 'event', topic, data } : { type: 'event', topic, subscriptionId, data };
    this.#writer.write(frame);
    this.#checkSlowConsumer();
  }

  /** Sends a heartbeat ping. */
  ping(): void {
    if (this.#state !== 'open') return;
    this.#pingNonce = (this.#pingNonce + 1) >>> 0;
    this.#writer.write({ type: 'heartbeat', kind: 'ping', nonce: this.#pingNonce });
  }

  /** Promises of the requests still running, for a draining shutdown. */
  inFlightDone(): Promise<void>[] {
    return [...this.#inFlight.values()].map((entry) => entry.done);
  }

  /** Aborts every running request with `reason`. */
  abortAll(reason: ClawError): void {
    for (const request of this.#inFlight.values()) request.abort(reason);
  }

  /** Says goodbye and closes once written. */
  goodbye(reason: string, reconnect: boolean): void {
    if (this.#state === 'closed') return;
    if (this.#state === 'open') this.#writer.write({ type: 'goodbye', reason, reconnect });
    this.#end(new ClawError('SHUTTING_DOWN', reason));
  }

  /** Answers with a connection-level error frame (or one for `requestId`) and closes. */
  fail(error: ClawError, requestId?: number): void {
    if (this.#state === 'closed') return;
    try {
      this.#writer.write(
        requestId === undefined
          ? { type: 'error', error: error.toJSON() }
          : { type: 'error', id: requestId, error: error.toJSON() },
      );
    } catch {
      // The error frame itself could not be encoded; closing is all that is left.
    }
    this.#end(error);
  }

  #end(reason: ClawError): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    clearTimeout(this.#handshakeTimer);
    this.abortAll(reason);
    this.#closed.abort(reason);
    // The peer may have hung up first: then the socket is already gone and there is nothing to wait for.
    if (this.#socket.destroyed) return;
    this.#socket.end();
    // A peer that never reads would keep a half-closed socket forever.
    const destroyTimer = setTimeout(() => this.#socket.destroy(), 1000);
    destroyTimer.unref();
    this.#socket.once('close', () => clearTimeout(destroyTimer));
  }

  #onClosed(): void {
    if (this.#state !== 'closed') this.#end(new ClawError('CONNECTION_CLOSED', 'Peer closed the connection'));
    this.#server.connectionClosed(this, this.#wasOpen);
  }

  #onData(chunk: Buffer): void {
    if (this.#state === 'closed') return;
    this.#lastSeen = Date.now();
    const { frames, error } = this.#decoder.push(chunk);
    for (const frame of frames) {
      // A frame earlier in this batch may have closed the connection.
      if (this.closed) return;
      this.#onFrame(frame);
    }
    if (error && !this.closed) {
      this.#server.badPeerLog.warn(
        { connectionId: this.id, agent: this.#identity || undefined, code: error.code },
        `bad frame from peer: ${error.message}`,
      );
      const requestId = error.details.requestId;
      this.fail(error, typeof requestId === 'number' ? requestId : undefined);
    }
  }

  #onFrame(frame: Frame): void {
    if (this.#state === 'handshake') {
      if (frame.type !== 'hello') {
        this.#rejectPeer(new ClawError('HANDSHAKE_REQUIRED', `Expected \`hello\` first, got \`${frame.type}\``));
        return;
      }
      this.#onHello(frame);
      return;
    }
    switch (frame.type) {
      case 'request':
        this.#onRequest(frame);
        return;
      case 'cancel':
        this.#inFlight.get(frame.id)?.abort(new ClawError('CANCELLED', frame.reason ?? 'Cancelled by the caller'));
        return;
      case 'heartbeat':
        if (frame.kind === 'ping') this.#writer.write({ type: 'heartbeat', kind: 'pong', nonce: frame.nonce });
        return;
      case 'goodbye':
        this.#end(new ClawError('CONNECTION_CLOSED', `Peer said goodbye: ${frame.reason}`));
        return;
      case 'hello':
        this.#rejectPeer(new ClawError('ALREADY_AUTHENTICATED', 'This connection already completed its handshake'));
        return;
      case 'error':
        this.#server.badPeerLog.warn(
          { connectionId: this.id, agent: this.#identity, error: frame.error },
          'peer reported an error',
        );
        return;
      default:
        this.#rejectPeer(new ClawError('INVALID_FRAME', `A client may not send \`${frame.type}\` frames`));
    }
  }

  #rejectPeer(error: ClawError): void {
    this.#server.badPeerLog.warn(
      { connectionId: this.id, agent: this.#identity || undefined, code: error.code },
      error.message,
    );
    this.fail(error);
  }

  #onHello(frame: HelloFrame): void {
    clearTimeout(this.#handshakeTimer);
    if (frame.protocolVersion !== PROTOCOL_VERSION) {
      this.#rejectPeer(
        new ClawError(
          'PROTOCOL_VERSION_MISMATCH',
          `Client speaks protocol version ${frame.protocolVersion}; this server speaks ${PROTOCOL_VERSION}`,
          { details: { expected: PROTOCOL_VERSION, received: frame.protocolVersion } },
        ),
      );
      return;
    }
    if (!this.#server.authenticate(frame.agent, frame.token)) {
      this.#rejectPeer(new ClawError('AUTH_FAILED', `Unknown agent or wrong token for \`${frame.agent}\``));
      return;
    }
    if (this.#server.closing) {
      this.goodbye('Server is shutting down', true);
      return;
    }
    this.#identity = frame.agent;
    this.#state = 'open';
    this.#wasOpen = true;
    this.#writer.write({
      type: 'welcome',
      protocolVersion: PROTOCOL_VERSION,
      connectionId: this.id,
      capabilities: this.#server.options.capabilities,
      heartbeatIntervalMs: this.#server.options.heartbeatIntervalMs,
    });
    this.#server.connectionOpened(this);
  }

  #onRequest(frame: RequestFrame): void {
    const { id } = frame;
    if (this.#server.closing) {
      this.#sendError(id, new ClawError('SHUTTING_DOWN', 'Server is shutting down; retry after it restarts'));
      return;
    }
    if (this.#inFlight.has(id)) {
      this.#sendError(id, new ClawError('DUPLICATE_REQUEST_ID', `Request id ${id} is already in flight`));
      return;
    }
    const limit = this.#server.options.maxInFlightPerConnection;
    if (this.#inFlight.size >= limit * 2) {
      this.#sendError(
        id,
        new ClawError('TOO_MANY_REQUESTS', `More than ${limit * 2} requests in flight on this connection`),
      );
      return;
    }
    const method = this.#server.methods.get(frame.method);
    if (!method) {
      this.#sendError(
        id,
        new ClawError('UNKNOWN_METHOD', `No method \`${frame.method}\``, { details: { method: frame.method } }),
      );
      return;
    }
    let params: unknown;
    try {
      params = parseOrThrow(method.params, frame.params, 'INVALID_PARAMS', `params for \`${frame.method}\``);
    } catch (error) {
      this.#sendError(id, ClawError.from(error));
      return;
    }

    // No listener on the connection's signal: closing the connection aborts every in-flight
    // request through abortAll().
    const request = new InFlightRequest(this.#identity, this, id, this.#deltaSink);
    if (frame.timeoutMs !== undefined) request.timeout = this.#server.timeouts.add(frame.timeoutMs, request);
    this.#inFlight.set(id, request);
    this.#maybePause();
    request.done = this.#run(request, method, params, frame.method);
  }

  async #run(request: InFlightRequest, method: MethodHandler, params: unknown, methodName: string): Promise<void> {
    const id = request.requestId;
    try {
      const result = await method.handler(params, request);
      if (request.aborted) throw request.abortReason;
      this.#send(request.streamed ? { type: 'stream-end', id, result } : { type: 'response', id, result });
    } catch (error) {
      const reason = request.aborted && !isClawError(error) ? request.abortReason : error;
      const clawError = ClawError.from(reason);
      if (clawError.code === 'INTERNAL') {
        this.#server.logger.error({ err: error, method: methodName, agent: this.#identity }, 'handler failed');
      }
      this.#sendError(id, clawError);
    } finally {
      if (request.timeout) this.#server.timeouts.cancel(request.timeout);
      this.#inFlight.delete(id);
      this.#maybeResume();
    }
  }

  readonly #deltaSink: DeltaSink = {
    writeDelta: (request, data) => {
      if (request.aborted || this.#state === 'closed') return RESOLVED;
      request.streamed = true;
      this.#writer.write({ type: 'stream-delta', id: request.requestId, data });
      this.#checkSlowConsumer();
      // Streams are the hot path: no promise is made unless the socket asks us to wait.
      return this.#writer.needsDrain ? this.#writer.drained(request.signal) : RESOLVED;
    },
  };

  #send(frame: Frame): void {
    if (this.#state === 'closed') return;
    try {
      this.#writer.write(frame);
    } catch (error) {
      // The result could not be encoded (too large, or not msgpack-able): tell the caller why.
      if ('id' in frame && typeof frame.id === 'number') this.#sendError(frame.id, ClawError.from(error));
      return;
    }
    this.#maybePause();
  }

  #sendError(id: number, error: ClawError): void {
    if (this.#state === 'closed') return;
    this.#writer.write({ type: 'error', id, error: error.toJSON() });
  }

  /**
   * Stop reading while this peer has many requests in flight or leaves our replies unread: its own
   * writes then block in the kernel, and our memory for it stays bounded.
   */
  #maybePause(): void {
    if (this.#pausedForLoad || this.#state === 'closed') return;
    const options = this.#server.options;
    if (
      this.#inFlight.size >= options.maxInFlightPerConnection ||
      this.#writer.queuedBytes > options.maxQueuedBytesPerConnection
    ) {
      this.#pausedForLoad = true;
      this.#socket.pause();
    }
  }

  #maybeResume(): void {
    if (!this.#pausedForLoad || this.#state === 'closed') return;
    const options = this.#server.options;
    if (
      this.#inFlight.size < options.maxInFlightPerConnection &&
      this.#writer.queuedBytes <= options.maxQueuedBytesPerConnection
    ) {
      this.#pausedForLoad = false;
      this.#socket.resume();
    }
  }

  #checkSlowConsumer(): void {
    const max = this.#server.options.maxQueuedBytesPerConnection;
    if (this.#writer.queuedBytes > max * 2) {
      this.#server.badPeerLog.warn(
        { connectionId: this.id, agent: this.#identity, queuedBytes: this.#writer.queuedBytes },
        'disconnecting slow consumer',
      );
      this.#end(new ClawError('SLOW_CONSUMER', `Peer left more than ${max * 2} bytes unread`));
      this.#socket.destroy();
    }
  }
}
