import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import {
  ClawError,
  DEFAULT_MAX_FRAME_BYTES,
  type Frame,
  type FrameDecoder,
  identityNameSchema,
  type Logger,
  silentLogger,
  type WelcomeFrame,
} from '@clawfleet/protocol';
import { type BackoffOptions, backoffDelay, sleep } from '../shared/backoff.ts';
import type { FrameWriter } from '../shared/frame-writer.ts';
import { TimeoutQueue } from '../shared/timeout-queue.ts';
import { handshake } from './handshake.ts';
import { HeartbeatWatch } from './heartbeat-watch.ts';
import { abortReason, PendingRequests } from './pending-request.ts';

export interface IpcClientOptions {
  socketPath: string;
  /** The agent (or tool) name this connection authenticates as. */
  agent: string;
  token: string;
  logger?: Logger;
  /** Default per-request timeout. @default 30000 */
  requestTimeoutMs?: number;
  /** Reconnect and re-handshake when the connection drops. @default true */
  reconnect?: boolean;
  /** How long `connect()` keeps retrying before CONNECT_FAILED. @default 10000 */
  connectTimeoutMs?: number;
  /** Delays between connection attempts. @default { initialDelayMs: 50, maxDelayMs: 5000, factor: 2 } */
  backoff?: BackoffOptions;
  /** A server silent for this long is taken as dead; default 3x the server's heartbeat interval. */
  heartbeatTimeoutMs?: number;
  /** @default 16 MiB */
  maxFrameBytes?: number;
  capabilities?: string[];
}

export interface RequestOptions {
  signal?: AbortSignal;
  /** Overrides the client's default; `Infinity` waits forever. Sent to the server, which aborts the handler too. */
  timeoutMs?: number;
  /** Receives each `stream-delta` of a streaming reply, in order. */
  onDelta?: (data: unknown) => void;
}

/**
 * There is no `connected` event: `connect()` resolving is the first connection (nobody could listen
 * before it returns); `reconnected` follows each later one.
 */
interface IpcClientEvents {
  disconnected: [error: ClawError];
  reconnected: [];
  /**
   * The client stopped for good without `close()`: a reconnect was refused (a token no longer
   * valid) or the server said goodbye without reconnect. Nothing will be sent or received again.
   */
  gaveUp: [error: ClawError];
  closed: [];
}

type EventListener = (data: unknown, subscriptionId: number | undefined) => void;

interface Link {
  socket: Socket;
  writer: FrameWriter;
  welcome: WelcomeFrame;
  heartbeat: HeartbeatWatch;
}

/**
 * Client of the IPC server. Connects with retries (exponential backoff with jitter), reconnects and
 * re-handshakes after the server restarts, and rejects pending requests with a retryable
 * CONNECTION_CLOSED when the connection drops. Requests issued while reconnecting wait for the new
 * connection within their own timeout. Its parts: `handshake.ts` (one connection attempt),
 * `pending-request.ts` (requests awaiting replies), `heartbeat-watch.ts` (a silent server).
 */
export class IpcClient extends EventEmitter<IpcClientEvents> {
  readonly #options: IpcClientOptions;
  readonly #logger: Logger;
  readonly #timeouts = new TimeoutQueue();
  readonly #pending = new PendingRequests(this.#timeouts);
  readonly #eventListeners = new Map<string, Set<EventListener>>();
  readonly #disposed = new AbortController();
  #link: Link | undefined;
  #reconnecting: Promise<void> | undefined;
  #linkWaiters = new Set<() => void>();

  private constructor(options: IpcClientOptions) {
    super();
    this.#options = options;
    this.#logger = (options.logger ?? silentLogger).child({ component: 'ipc-client', agent: options.agent });
  }

  /** Connects and completes the handshake, retrying until `connectTimeoutMs`. */
  static async connect(options: IpcClientOptions): Promise<IpcClient> {
    validateOptions(options);
    const client = new IpcClient(options);
    await client.#connectWithRetry(options.connectTimeoutMs ?? 10_000);
    return client;
  }

  get connected(): boolean {
    return this.#link !== undefined;
  }

  /** The server's welcome on the current connection. */
  get welcome(): WelcomeFrame | undefined {
    return this.#link?.welcome;
  }

  /**
   * Sends a request and resolves with its result (a `response`, or the `stream-end` of a stream
   * whose deltas went to `onDelta`). Rejects with the server's ClawError, TIMEOUT, CANCELLED, or
   * CONNECTION_CLOSED (retryable) when the connection drops first.
   */
  request<Result = unknown>(method: string, params: unknown, options: RequestOptions = {}): Promise<Result> {
    const timeoutMs = options.timeoutMs ?? this.#options.requestTimeoutMs ?? 30_000;
    if (!(timeoutMs > 0)) {
      return Promise.reject(new ClawError('CONFIG_INVALID', `Expected \`timeoutMs\` > 0, got ${timeoutMs}`));
    }
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    const deadline = Date.now() + timeoutMs;
    const link = this.#link;
    // The fast path makes no promise beyond the one returned; reconnecting is the slow path.
    if (link) return this.#send<Result>(link, method, params, deadline, options);
    return this.#waitForLink(deadline, signal).then((linked) =>
      this.#send<Result>(linked, method, params, deadline, options),
    );
  }

  #send<Result>(
    link: Link,
    method: string,
    params: unknown,
    deadline: number,
    options: RequestOptions,
  ): Promise<Result> {
    const remaining = deadline - Date.now();
    const pending = this.#pending.open(method, options.onDelta, options.signal, (frame) => this.#writeQuietly(frame));
    const id = pending.id;
    let wireTimeout: number | undefined;
    if (Number.isFinite(remaining)) {
      wireTimeout = Math.max(1, Math.min(86_400_000, Math.ceil(remaining)));
      pending.startTimeout(Math.max(0, remaining), options.timeoutMs ?? this.#options.requestTimeoutMs ?? 30_000);
    }
    try {
      link.writer.write(
        wireTimeout === undefined
          ? { type: 'request', id, method, params }
          : { type: 'request', id, method, params, timeoutMs: wireTimeout },
      );
    } catch (error) {
      pending.reject(ClawError.from(error));
    }
    return pending.promise as Promise<Result>;
  }

  /** Subscribes to server `event` frames of one topic. Returns the unsubscribe function. */
  onEvent(topic: string, listener: EventListener): () => void {
    let set = this.#eventListeners.get(topic);
    if (!set) {
      set = new Set();
      this.#eventListeners.set(topic, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  /** Says goodbye, rejects what is pending, and stops reconnecting. */
  async close(): Promise<void> {
    if (this.#disposed.signal.aborted) return;
    this.#disposed.abort(new ClawError('CONNECTION_CLOSED', 'Client closed'));
    const link = this.#link;
    this.#link = undefined;
    this.#pending.failAll(new ClawError('CONNECTION_CLOSED', 'Client closed', { retryable: false }));
    this.#timeouts.clear();
    for (const wake of this.#linkWaiters) wake();
    if (link) {
      link.heartbeat.stop();
      this.#writeQuietly({ type: 'goodbye', reason: 'client closing', reconnect: false }, link);
      await new Promise<void>((resolve) => {
        link.socket.once('close', () => resolve());
        link.socket.end();
        setTimeout(() => {
          link.socket.destroy();
          resolve();
        }, 500).unref();
      });
    }
    this.emit('closed');
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #writeQuietly(frame: Frame, link: Link | undefined = this.#link): void {
    try {
      link?.writer.write(frame);
    } catch (error) {
      this.#logger.debug({ err: error, type: frame.type }, 'could not write frame');
    }
  }

  async #waitForLink(deadline: number, signal: AbortSignal | undefined): Promise<Link> {
    while (!this.#link) {
      if (this.#disposed.signal.aborted)
        throw new ClawError('CONNECTION_CLOSED', 'Client closed', { retryable: false });
      if (this.#options.reconnect === false) throw new ClawError('CONNECTION_CLOSED', 'Not connected');
      if (signal?.aborted) throw abortReason(signal);
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new ClawError('TIMEOUT', 'Timed out waiting for the connection to come back');
      await new Promise<void>((resolve) => {
        const timer = Number.isFinite(remaining) ? setTimeout(done, remaining) : undefined;
        function done(): void {
          clearTimeout(timer);
          signal?.removeEventListener('abort', done);
          waiters.delete(done);
          resolve();
        }
        const waiters = this.#linkWaiters;
        waiters.add(done);
        signal?.addEventListener('abort', done, { once: true });
      });
    }
    return this.#link;
  }

  async #connectWithRetry(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let lastError: ClawError | undefined;
    for (let attempt = 0; ; attempt++) {
      if (this.#disposed.signal.aborted)
        throw new ClawError('CONNECTION_CLOSED', 'Client closed', { retryable: false });
      try {
        await this.#connectOnce(Math.max(100, deadline - Date.now()));
        return;
      } catch (error) {
        lastError = ClawError.from(error, 'CONNECT_FAILED');
        if (!lastError.retryable) throw lastError;
      }
      const delay = backoffDelay(attempt, this.#options.backoff);
      if (Date.now() + delay >= deadline) break;
      await sleep(delay, this.#disposed.signal);
    }
    throw new ClawError('CONNECT_FAILED', `Could not connect to ${this.#options.socketPath}: ${lastError?.message}`, {
      cause: lastError,
      details: { socketPath: this.#options.socketPath },
    });
  }

  async #connectOnce(timeoutMs: number): Promise<void> {
    const options = this.#options;
    const { socket, decoder, writer, welcome, early, error } = await handshake({
      socketPath: options.socketPath,
      agent: options.agent,
      token: options.token,
      capabilities: options.capabilities ?? [],
      maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
      timeoutMs,
    });
    this.#attach(socket, decoder, writer, welcome);
    for (const frame of early) this.#onFrame(frame);
    if (error) socket.destroy(error);
  }

  #attach(socket: Socket, decoder: FrameDecoder, writer: FrameWriter, welcome: WelcomeFrame): void {
    const interval = welcome.heartbeatIntervalMs > 0 ? welcome.heartbeatIntervalMs : 5000;
    const heartbeat = new HeartbeatWatch(interval, this.#options.heartbeatTimeoutMs ?? interval * 3, (silentMs) => {
      this.#logger.warn({ silentMs }, 'server missed heartbeats; reconnecting');
      socket.destroy(new ClawError('PEER_UNRESPONSIVE', 'Server missed its heartbeats'));
    });
    const link: Link = { socket, writer, welcome, heartbeat };
    this.#link = link;
    for (const wake of this.#linkWaiters) wake();

    socket.on('data', (chunk: Buffer) => {
      heartbeat.seen();
      const { frames, error } = decoder.push(chunk);
      for (const frame of frames) this.#onFrame(frame);
      if (error) {
        this.#logger.error({ err: error }, 'server sent an invalid frame; dropping the connection');
        socket.destroy();
      }
    });
    socket.on('error', (error) => this.#logger.debug({ err: error }, 'socket error'));
    socket.on('close', () => this.#onLinkClosed(link));
  }

  #onFrame(frame: Frame): void {
    switch (frame.type) {
      case 'response':
      case 'stream-end':
        this.#pending.get(frame.id)?.resolve(frame.result);
        return;
      case 'stream-delta':
        this.#pending.get(frame.id)?.onDelta?.(frame.data);
        return;
      case 'error':
        if (frame.id === undefined) {
          this.#logger.warn({ error: frame.error }, 'server reported a connection error');
          return;
        }
        this.#pending.get(frame.id)?.reject(ClawError.fromJSON(frame.error));
        return;
      case 'event':
        for (const listener of this.#eventListeners.get(frame.topic) ?? []) {
          try {
            listener(frame.data, frame.subscriptionId);
          } catch (error) {
            this.#logger.error({ err: error, topic: frame.topic }, 'event listener threw');
          }
        }
        return;
      case 'heartbeat':
        if (frame.kind === 'ping') this.#writeQuietly({ type: 'heartbeat', kind: 'pong', nonce: frame.nonce });
        return;
      case 'goodbye':
        this.#logger.info({ reason: frame.reason, reconnect: frame.reconnect }, 'server said goodbye');
        if (!frame.reconnect) {
          const error = new ClawError('CONNECTION_CLOSED', frame.reason, { retryable: false });
          this.#disposed.abort(error);
          this.emit('gaveUp', error);
        }
        return;
      default:
        this.#logger.warn({ type: frame.type }, 'unexpected frame from server');
    }
  }

  #onLinkClosed(link: Link): void {
    link.heartbeat.stop();
    if (this.#link !== link) return;
    this.#link = undefined;
    const error = new ClawError('CONNECTION_CLOSED', 'Connection to the server closed');
    this.#pending.failAll(error);
    if (this.#disposed.signal.aborted) return;
    this.emit('disconnected', error);
    if (this.#options.reconnect !== false) this.#reconnectLoop();
  }

  #reconnectLoop(): void {
    if (this.#reconnecting) return;
    this.#reconnecting = (async () => {
      for (let attempt = 0; !this.#disposed.signal.aborted; attempt++) {
        await sleep(backoffDelay(attempt, this.#options.backoff), this.#disposed.signal);
        if (this.#disposed.signal.aborted) return;
        try {
          await this.#connectOnce(this.#options.connectTimeoutMs ?? 10_000);
          this.#logger.info({ attempt }, 'reconnected');
          this.emit('reconnected');
          return;
        } catch (error) {
          const clawError = ClawError.from(error, 'CONNECT_FAILED');
          if (!clawError.retryable) {
            this.#logger.error({ err: clawError }, 'reconnect refused; giving up');
            this.#disposed.abort(clawError);
            for (const wake of this.#linkWaiters) wake();
            this.emit('gaveUp', clawError);
            return;
          }
        }
      }
    })().finally(() => {
      this.#reconnecting = undefined;
    });
  }
}

function validateOptions(options: IpcClientOptions): void {
  if (typeof options.socketPath !== 'string' || options.socketPath.length === 0) {
    throw new ClawError('CONFIG_INVALID', 'Expected `socketPath` to be a non-empty string');
  }
  if (!identityNameSchema.safeParse(options.agent).success) {
    throw new ClawError(
      'CONFIG_INVALID',
      `Expected \`agent\` to be an identity name, got \`${String(options.agent)}\``,
    );
  }
  if (typeof options.token !== 'string' || options.token.length === 0) {
    throw new ClawError('CONFIG_INVALID', 'Expected `token` to be a non-empty string');
  }
}
