import type { Socket } from 'node:net';
import {
  type CancelFrame,
  ClawError,
  type Frame,
  FrameDecoder,
  type HeartbeatFrame,
  type HelloFrame,
  isClawError,
  type Logger,
  PROTOCOL_VERSION,
  parseOrThrow,
  type RequestFrame,
} from '@clawfleet/protocol';
import { FrameWriter } from '../shared/frame-writer.ts';
import type { RateLimitedLog } from '../shared/rate-limited-log.ts';
import type { TimeoutQueue } from '../shared/timeout-queue.ts';
import type { IdentityLoad, LoadedConnection } from './identity-load.ts';
import { type DeltaSink, InFlightRequest } from './in-flight-request.ts';
import type { MethodHandler, PeerConnection } from './request-context.ts';

export interface ResolvedServerOptions {
  maxFrameBytes: number;
  maxHandshakeFrameBytes: number;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  handshakeTimeoutMs: number;
  maxInFlightPerIdentity: number;
  maxQueuedBytesPerIdentity: number;
  maxConnectionsPerIdentity: number;
  capabilities: string[];
}

/** Frames the server decoded and answered since it started: what the fuzz tests count. */
export interface ServerCounters {
  framesDecoded: number;
  /** Replies to a peer's frames: responses, stream ends, errors with a request id, pongs. */
  framesAnswered: number;
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
  readonly counters: ServerCounters;
  authenticate(agent: string, token: string): boolean;
  /** The load of `identity` over all its connections. */
  loadOf(identity: string): IdentityLoad<ServerConnection>;
  connectionOpened(connection: ServerConnection): void;
  connectionClosed(connection: ServerConnection, wasOpen: boolean): void;
}

type State = 'handshake' | 'open' | 'closed';

const RESOLVED = Promise.resolve();
const EMPTY = Buffer.alloc(0);
/**
 * Input read on while an identity's requests are held at its in-flight cap, so that a cancel or a
 * ping behind them is seen. The frames held come from the read that filled the cap, this
 * much read ahead, and the read that crossed it: at most 3 x 64 KiB of input.
 */
const READ_AHEAD_BYTES = 64 * 1024;

/**
 * One peer connection on the server side. Before the handshake it accepts only `hello`; after it,
 * its identity is fixed and every request is dispatched with that identity.
 *
 * Memory bound: before each frame is dispatched the connection checks its identity's load (requests
 * running, reply bytes left unread on all its connections). Over a limit it stops dispatching, keeps
 * the frames already decoded from the last read, and pauses the socket, so the peer's writes block
 * in the kernel; on `drain` or when a request finishes it dispatches the kept frames and reads
 * again. Every reply, error answer and pong is written through the same path, so none escapes it.
 * Held at the in-flight cap only (replies within budget), it reads on for READ_AHEAD_BYTES and
 * takes cancels and pings ahead of the held requests: they free a request or prove liveness.
 */
export class ServerConnection implements PeerConnection, LoadedConnection {
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
  #load: IdentityLoad<ServerConnection> | undefined;
  #lastSeen = Date.now();
  /** Whether the handshake completed at some point; `disconnect` is emitted for these only. */
  #wasOpen = false;
  /** The socket is paused because the identity is over a limit. */
  #paused = false;
  /** Frames decoded from the last reads and not yet dispatched (only while paused). */
  #held: Frame[] | undefined;
  #heldIndex = 0;
  /** A decode error that follows the held frames; reported once they are dispatched. */
  #heldError: ClawError | undefined;
  /** Bytes read since frames were first held; reading stops at READ_AHEAD_BYTES. */
  #readAhead = 0;
  #pingNonce = 0;

  constructor(id: string, socket: Socket, server: ServerInternals) {
    this.id = id;
    this.#socket = socket;
    this.#server = server;
    // A nobody gets a hello's worth of buffer; the full frame size comes with `welcome`.
    this.#decoder = new FrameDecoder({ maxFrameBytes: server.options.maxHandshakeFrameBytes });
    this.#writer = new FrameWriter(socket, server.options.maxFrameBytes);
    this.#handshakeTimer = setTimeout(() => {
      this.fail(new ClawError('HANDSHAKE_TIMEOUT', `No hello within ${server.options.handshakeTimeoutMs} ms`));
    }, server.options.handshakeTimeoutMs);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (error) => this.#server.badPeerLog.warn({ connectionId: id, err: error }, 'socket error'));
    socket.on('close', () => this.#onClosed());
    // Room on this socket may be what another connection of the identity waits for.
    socket.on('drain', () => (this.#load ? this.#load.wake() : this.maybeResume()));
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

  /** Whether the server stopped reading this peer because its identity is over a limit. */
  get paused(): boolean {
    return this.#paused;
  }

  get queuedReplyBytes(): number {
    return this.#writer.queuedBytes;
  }

  /** Bytes received and not yet decoded: a partial frame. */
  get undecodedBytes(): number {
    return this.#decoder.bufferedBytes;
  }

  /** Frames decoded and not dispatched yet: at most 3 reads' worth (see READ_AHEAD_BYTES), only while paused. */
  get heldFrames(): number {
    return this.#held ? this.#held.length - this.#heldIndex : 0;
  }

  /**
   * When the peer last sent a frame. While the server itself holds the peer back for its running
   * requests (not for unread replies), the peer's silence is the server's doing and does not count.
   */
  get lastSeen(): number {
    if (this.#paused && !this.#overByteBudget()) return Date.now();
    return this.#lastSeen;
  }

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
    this.#checkSlowConsumer();
  }

  /** Promises of the requests still running, for a draining shutdown. */
  inFlightDone(): Promise<void>[] {
    return [...this.#inFlight.values()].map((entry) => entry.done);
  }

  /** Aborts every running request with `reason` and answers each with it now, before the connection closes. */
  cutInFlight(reason: ClawError): void {
    for (const request of [...this.#inFlight.values()]) {
      request.abort(reason);
      this.#settle(request, false, reason, '');
    }
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

  /** Dispatches the held frames and reads again, if the identity is back under its limits. */
  maybeResume(): void {
    if (!this.#paused || this.#state === 'closed') return;
    if (this.#mustWait()) {
      // Replies may have drained while requests are still at the cap: read ahead again if so.
      this.#updateReading();
      return;
    }
    this.#paused = false;
    this.#lastSeen = Date.now();
    this.#dispatchHeld();
    this.#updateReading();
  }

  #end(reason: ClawError): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    clearTimeout(this.#handshakeTimer);
    this.#held = undefined;
    // Requests are aborted and stop counting against the identity now, whether or not their
    // handlers ever settle; nothing more is written to this peer.
    for (const request of [...this.#inFlight.values()]) {
      request.abort(reason);
      this.#settle(request, false, reason, '');
    }
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
    // Before the handshake only the first frame (the hello) is decoded, under the small limit;
    // what follows it in the same read stays undecoded until the limit is raised below.
    const handshake = this.#state === 'handshake';
    const { frames, error } = this.#decoder.push(chunk, handshake ? 1 : undefined);
    this.#server.counters.framesDecoded += frames.length;
    if (error) this.#heldError = error;
    const held = this.#held;
    if (held === undefined) {
      this.#held = frames;
      this.#heldIndex = 0;
    } else {
      // Read while frames are held (at the in-flight cap, within the read-ahead, or a read already
      // under way when the socket paused): cancels and pings are taken now, the rest waits in order.
      this.#readAhead += chunk.length;
      for (const frame of frames) if (!this.#takeControlFrame(frame, held)) held.push(frame);
      if (this.#paused) {
        this.#updateReading();
        return;
      }
    }
    this.#dispatchHeld();
    if (handshake && this.#state === 'open') {
      this.#decoder.setMaxFrameBytes(this.#server.options.maxFrameBytes);
      if (this.#decoder.bufferedBytes > 0) this.#onData(EMPTY);
    }
  }

  #dispatchHeld(): void {
    const frames = this.#held;
    if (frames === undefined) return;
    while (this.#heldIndex < frames.length) {
      // A frame dispatched before may have closed the connection.
      if (this.#state === 'closed') return;
      // At the in-flight cap a cancel or ping still goes through: it frees a request or proves liveness.
      if (this.#mustWait() && !this.#passesAtCap(frames[this.#heldIndex]!)) {
        this.#pause();
        return;
      }
      this.#onFrame(frames[this.#heldIndex++]!);
    }
    this.#held = undefined;
    this.#heldIndex = 0;
    this.#readAhead = 0;
    const error = this.#heldError;
    if (error && this.#state !== 'closed') {
      this.#heldError = undefined;
      this.#server.badPeerLog.warn(
        { connectionId: this.id, agent: this.#identity || undefined, code: error.code },
        `bad frame from peer: ${error.message}`,
      );
      const requestId = error.details.requestId;
      this.fail(error, typeof requestId === 'number' ? requestId : undefined);
    }
  }

  /** Whether the next frame must wait: the identity has its maximum running or too many bytes unread. */
  #mustWait(): boolean {
    const load = this.#load;
    if (load !== undefined && load.inFlight >= this.#server.options.maxInFlightPerIdentity) return true;
    return this.#overByteBudget();
  }

  #overByteBudget(): boolean {
    const load = this.#load;
    const queued = load === undefined || load.connections.size === 1 ? this.#writer.queuedBytes : load.queuedReplyBytes;
    return queued > this.#server.options.maxQueuedBytesPerIdentity;
  }

  #pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.#updateReading();
  }

  /**
   * Reads while nothing is held; while frames are held, only when held for the in-flight cap (not
   * for unread replies) and within the read-ahead, so the peer's cancels and pings still arrive.
   */
  #updateReading(): void {
    if (this.#state === 'closed') return;
    if (!this.#paused || (this.#readAhead < READ_AHEAD_BYTES && !this.#overByteBudget())) this.#socket.resume();
    else this.#socket.pause();
  }

  /** A cancel or ping, after the handshake and with replies within the byte budget. */
  #passesAtCap(frame: Frame): frame is CancelFrame | HeartbeatFrame {
    return (frame.type === 'cancel' || frame.type === 'heartbeat') && this.#state === 'open' && !this.#overByteBudget();
  }

  /**
   * Handles a cancel or ping that arrived behind held frames, ahead of them (they free resources or
   * prove liveness); returns false for any other frame, and while replies are over the byte budget.
   * A cancel reaches a running request, or a held one of that id, which is answered CANCELLED and
   * dropped.
   */
  #takeControlFrame(frame: Frame, held: Frame[]): boolean {
    if (!this.#passesAtCap(frame)) return false;
    if (frame.type === 'heartbeat') {
      if (frame.kind === 'ping') this.#answer({ type: 'heartbeat', kind: 'pong', nonce: frame.nonce });
      return true;
    }
    const reason = (): ClawError => new ClawError('CANCELLED', frame.reason ?? 'Cancelled by the caller');
    const running = this.#inFlight.get(frame.id);
    if (running !== undefined) {
      running.abort(reason());
      return true;
    }
    for (let index = this.#heldIndex; index < held.length; index++) {
      const candidate = held[index] as Frame;
      if (candidate.type === 'request' && candidate.id === frame.id) {
        held.splice(index, 1);
        this.#sendError(frame.id, reason());
        break;
      }
    }
    return true;
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
        if (frame.kind === 'ping') this.#answer({ type: 'heartbeat', kind: 'pong', nonce: frame.nonce });
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
    const load = this.#server.loadOf(frame.agent);
    const maxConnections = this.#server.options.maxConnectionsPerIdentity;
    if (load.connections.size >= maxConnections) {
      this.#rejectPeer(
        new ClawError('TOO_MANY_REQUESTS', `\`${frame.agent}\` already has ${maxConnections} connections open`, {
          details: { maxConnectionsPerIdentity: maxConnections },
        }),
      );
      return;
    }
    this.#identity = frame.agent;
    this.#state = 'open';
    this.#wasOpen = true;
    this.#load = load;
    load.connections.add(this);
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

    const request = new InFlightRequest(this.#identity, this, id, this.#deltaSink);
    if (frame.timeoutMs !== undefined) request.timeout = this.#server.timeouts.add(frame.timeoutMs, request);
    this.#inFlight.set(id, request);
    this.#load!.inFlight += 1;
    let result: unknown;
    try {
      result = method.handler(params, request);
    } catch (error) {
      this.#settle(request, false, error, frame.method);
      return;
    }
    if (isPromiseLike(result)) {
      const methodName = frame.method;
      request.done = Promise.resolve(result).then(
        (value) => this.#settle(request, true, value, methodName),
        (error: unknown) => this.#settle(request, false, error, methodName),
      );
    } else {
      // A synchronous result is written now, so the next frame's budget check sees its bytes.
      this.#settle(request, true, result, frame.method);
    }
  }

  /** Ends a request once: answers it (unless the connection closed), and frees its place in the identity's load. */
  #settle(request: InFlightRequest, ok: boolean, value: unknown, methodName: string): void {
    if (request.settled) return;
    request.settled = true;
    const id = request.requestId;
    if (request.timeout) this.#server.timeouts.cancel(request.timeout);
    this.#inFlight.delete(id);
    const load = this.#load!;
    load.inFlight -= 1;
    if (ok && !request.aborted) {
      this.#answer(
        request.streamed ? { type: 'stream-end', id, result: value } : { type: 'response', id, result: value },
      );
    } else {
      const reason = ok || (request.aborted && !isClawError(value)) ? request.abortReason : value;
      const clawError = ClawError.from(reason);
      if (clawError.code === 'INTERNAL') {
        this.#server.logger.error({ err: reason, method: methodName, agent: this.#identity }, 'handler failed');
      }
      this.#sendError(id, clawError);
    }
    if (load.inFlight + 1 >= this.#server.options.maxInFlightPerIdentity) load.wake();
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

  /** Writes a reply to one of the peer's frames. */
  #answer(frame: Frame): void {
    if (this.#state === 'closed') return;
    try {
      this.#writer.write(frame);
    } catch (error) {
      // The result could not be encoded (too large, or not msgpack-able): tell the caller why.
      if ('id' in frame && typeof frame.id === 'number') this.#sendError(frame.id, ClawError.from(error));
      return;
    }
    this.#server.counters.framesAnswered += 1;
  }

  #sendError(id: number, error: ClawError): void {
    if (this.#state === 'closed') return;
    this.#writer.write({ type: 'error', id, error: error.toJSON() });
    this.#server.counters.framesAnswered += 1;
  }

  /**
   * Events and pings are not flow-controlled by the peer's requests: a peer that leaves more than
   * twice the byte budget unread on one connection is dropped rather than allowed to grow our memory.
   */
  #checkSlowConsumer(): void {
    const max = this.#server.options.maxQueuedBytesPerIdentity;
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

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    value instanceof Promise ||
    (typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function')
  );
}
