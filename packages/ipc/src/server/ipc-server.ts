import { EventEmitter } from 'node:events';
import { chmod, unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { ClawError, DEFAULT_MAX_FRAME_BYTES, type Logger, methodNameSchema, silentLogger } from '@clawfleet/protocol';
import { z } from 'zod';
import { RateLimitedLog } from '../shared/rate-limited-log.ts';
import { TimeoutQueue } from '../shared/timeout-queue.ts';
import type { Authenticator } from '../shared/token-authenticator.ts';
import { IdentityLoad } from './identity-load.ts';
import type { MethodHandler, PeerConnection } from './request-context.ts';
import {
  type ResolvedServerOptions,
  ServerConnection,
  type ServerCounters,
  type ServerInternals,
} from './server-connection.ts';
import { prepareSocketPath } from './socket-path.ts';

export interface IpcServerOptions {
  socketPath: string;
  /** Checks each hello's agent name and token. See `tokenAuthenticator`. */
  authenticate: Authenticator;
  logger?: Logger;
  /** @default 16 MiB */
  maxFrameBytes?: number;
  /** How often the server pings each peer. @default 5000 */
  heartbeatIntervalMs?: number;
  /** A peer silent for this long is dropped as dead. @default 3 x heartbeatIntervalMs */
  heartbeatTimeoutMs?: number;
  /** A connection that has not said hello by then is closed. @default 5000 */
  handshakeTimeoutMs?: number;
  /**
   * Requests one identity may have running, over all its connections; at this many the server
   * stops reading that identity's connections until one finishes. @default 256
   */
  maxInFlightPerIdentity?: number;
  /**
   * Reply bytes one identity may leave unread, over all its connections; above this the server
   * stops reading them until the peer reads. Events or pings left unread beyond twice this on one
   * connection drop it with SLOW_CONSUMER. @default 8 MiB
   */
  maxQueuedBytesPerIdentity?: number;
  /** Connections one identity may hold open; one more is refused with TOO_MANY_REQUESTS. @default 32 */
  maxConnectionsPerIdentity?: number;
  /**
   * Connections that have not completed their handshake yet; one more is closed at once. Before
   * the handshake a peer is nobody, and each may hold a partial frame of up to
   * `maxHandshakeFrameBytes` until `handshakeTimeoutMs`. @default 64
   */
  maxPendingHandshakes?: number;
  /**
   * Largest frame accepted before the handshake completes (the hello); a larger one is refused
   * with FRAME_TOO_LARGE from its header. After `welcome` the limit is `maxFrameBytes`.
   * @default {@link DEFAULT_MAX_HANDSHAKE_FRAME_BYTES}
   */
  maxHandshakeFrameBytes?: number;
  /** Socket file mode. @default 0o600 */
  socketMode?: number;
  /** Advertised in `welcome`. @default [] */
  capabilities?: string[];
}

const positiveInteger = z.number().int().positive();
const optionsSchema = z.object({
  socketPath: z.string().min(1),
  authenticate: z.custom<Authenticator>(
    (value) => typeof value === 'function',
    'expected a function (agent, token) => boolean',
  ),
  maxFrameBytes: positiveInteger.min(64).optional(),
  heartbeatIntervalMs: positiveInteger.optional(),
  heartbeatTimeoutMs: positiveInteger.optional(),
  handshakeTimeoutMs: positiveInteger.optional(),
  maxInFlightPerIdentity: positiveInteger.optional(),
  maxQueuedBytesPerIdentity: positiveInteger.optional(),
  maxConnectionsPerIdentity: positiveInteger.optional(),
  maxPendingHandshakes: positiveInteger.optional(),
  maxHandshakeFrameBytes: positiveInteger.min(64).optional(),
  socketMode: z.number().int().min(0).max(0o777).optional(),
  capabilities: z.array(z.string()).optional(),
});

/**
 * The largest frame a peer may send before its handshake: 16 KiB holds the largest hello the
 * schema allows (a 1,024-character token and 64 capabilities of 64 characters, even at 3 bytes a
 * character: about 15.3 KiB); real hellos are under 200 bytes.
 */
export const DEFAULT_MAX_HANDSHAKE_FRAME_BYTES = 16 * 1024;

interface IpcServerEvents {
  connection: [connection: PeerConnection];
  disconnect: [connection: PeerConnection];
}

/** What the server holds and has done, for tests, fuzzing and metrics. */
export interface IpcServerStats extends ServerCounters {
  /** Open connections, authenticated or not. */
  connections: number;
  /** Requests running, over every connection. */
  inFlight: number;
  /** Reply bytes written but not yet taken by the kernel, over every connection. */
  queuedReplyBytes: number;
  /** Frames decoded and waiting to be dispatched, over every connection. */
  heldFrames: number;
  /** Bytes received and not yet decoded into a frame (partial frames), over every connection. */
  undecodedBytes: number;
  /** Connections the server stopped reading because their identity is over a limit. */
  pausedConnections: number;
}

/**
 * The IPC server on a Unix domain socket. Each connection authenticates once with hello; its
 * identity is then fixed, so a connection can never act as another agent.
 */
export class IpcServer extends EventEmitter<IpcServerEvents> {
  readonly socketPath: string;
  readonly #options: ResolvedServerOptions;
  readonly #socketMode: number;
  readonly #authenticate: Authenticator;
  readonly #logger: Logger;
  readonly #methods = new Map<string, MethodHandler>();
  readonly #connections = new Set<ServerConnection>();
  readonly #byIdentity = new Map<string, IdentityLoad<ServerConnection>>();
  readonly #counters: ServerCounters = { framesDecoded: 0, framesAnswered: 0 };
  readonly #internals: ServerInternals;
  readonly #timeouts = new TimeoutQueue();
  #server: Server | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #closing = false;
  #nextConnectionId = 1;
  readonly #maxPendingHandshakes: number;
  /** Accepted connections that have not completed their handshake. */
  #handshaking = 0;

  constructor(options: IpcServerOptions) {
    super();
    const parsed = optionsSchema.safeParse(options);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ClawError('CONFIG_INVALID', `Invalid IpcServer option \`${issue?.path.join('.')}\`: ${issue?.message}`);
    }
    this.socketPath = options.socketPath;
    this.#authenticate = options.authenticate;
    this.#logger = (options.logger ?? silentLogger).child({ component: 'ipc-server' });
    this.#socketMode = options.socketMode ?? 0o600;
    this.#maxPendingHandshakes = options.maxPendingHandshakes ?? 64;
    const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 5000;
    this.#options = {
      maxFrameBytes: options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
      maxHandshakeFrameBytes: Math.min(
        options.maxHandshakeFrameBytes ?? DEFAULT_MAX_HANDSHAKE_FRAME_BYTES,
        options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
      ),
      heartbeatIntervalMs,
      heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? heartbeatIntervalMs * 3,
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? 5000,
      maxInFlightPerIdentity: options.maxInFlightPerIdentity ?? 256,
      maxQueuedBytesPerIdentity: options.maxQueuedBytesPerIdentity ?? 8 * 1024 * 1024,
      maxConnectionsPerIdentity: options.maxConnectionsPerIdentity ?? 32,
      capabilities: options.capabilities ?? [],
    };
    const server = this;
    this.#internals = {
      options: this.#options,
      methods: this.#methods,
      logger: this.#logger,
      badPeerLog: new RateLimitedLog(this.#logger),
      timeouts: this.#timeouts,
      counters: this.#counters,
      get closing() {
        return server.#closing;
      },
      authenticate: (agent, token) => {
        try {
          return this.#authenticate(agent, token) === true;
        } catch (error) {
          this.#logger.error({ err: error, agent }, 'authenticator threw; refusing the connection');
          return false;
        }
      },
      loadOf: (identity) => {
        let load = this.#byIdentity.get(identity);
        if (!load) {
          load = new IdentityLoad<ServerConnection>();
          this.#byIdentity.set(identity, load);
        }
        return load;
      },
      connectionOpened: (connection) => {
        this.#handshaking -= 1;
        this.#logger.debug({ connectionId: connection.id, agent: connection.identity }, 'peer authenticated');
        this.emit('connection', connection);
      },
      connectionClosed: (connection, wasOpen) => {
        this.#connections.delete(connection);
        if (!wasOpen) this.#handshaking -= 1;
        const load = this.#byIdentity.get(connection.identity);
        if (load?.connections.delete(connection)) {
          if (load.connections.size === 0 && load.inFlight === 0) this.#byIdentity.delete(connection.identity);
          // Its unread bytes no longer count against the identity.
          else load.wake();
        }
        if (wasOpen) this.emit('disconnect', connection);
      },
    };
  }

  /** Registers the handler for a request method. A method can be registered once. */
  handle<Params, Result>(method: string, handler: MethodHandler<Params, Result>): void {
    if (!methodNameSchema.safeParse(method).success) {
      throw new ClawError('CONFIG_INVALID', `Invalid method name \`${method}\`: use dotted lowercase words`);
    }
    if (this.#methods.has(method)) throw new ClawError('CONFIG_INVALID', `Method \`${method}\` is already registered`);
    this.#methods.set(method, handler as MethodHandler);
  }

  async listen(): Promise<void> {
    if (this.#server) throw new ClawError('CONFIG_INVALID', 'IpcServer.listen() was already called');
    await prepareSocketPath(this.socketPath);
    const server = createServer({ allowHalfOpen: false }, (socket) => this.#accept(socket));
    this.#server = server;
    // The umask closes the window between bind and chmod in which the socket has default permissions.
    const previousUmask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.socketPath, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } finally {
      process.umask(previousUmask);
    }
    await chmod(this.socketPath, this.#socketMode);
    server.on('error', (error) => this.#logger.error({ err: error }, 'server socket error'));
    this.#heartbeat = setInterval(() => this.#checkHeartbeats(), this.#options.heartbeatIntervalMs);
    this.#heartbeat.unref();
    this.#logger.info({ socketPath: this.socketPath }, 'listening');
  }

  /** Open, authenticated connections; of one identity when given. */
  connections(identity?: string): PeerConnection[] {
    if (identity !== undefined) return [...(this.#byIdentity.get(identity)?.connections ?? [])];
    return [...this.#connections].filter((connection) => connection.authenticated);
  }

  /** Counters and what is held now; cheap enough to poll. */
  stats(): IpcServerStats {
    let inFlight = 0;
    let queuedReplyBytes = 0;
    let heldFrames = 0;
    let undecodedBytes = 0;
    let pausedConnections = 0;
    for (const connection of this.#connections) {
      inFlight += connection.inFlightCount;
      queuedReplyBytes += connection.queuedReplyBytes;
      heldFrames += connection.heldFrames;
      undecodedBytes += connection.undecodedBytes;
      if (connection.paused) pausedConnections += 1;
    }
    return {
      ...this.#counters,
      connections: this.#connections.size,
      inFlight,
      queuedReplyBytes,
      heldFrames,
      undecodedBytes,
      pausedConnections,
    };
  }

  /** Sends an event to every connection of `identity`; returns how many got it. */
  pushTo(identity: string, topic: string, data: unknown, subscriptionId?: number): number {
    const targets = this.#byIdentity.get(identity)?.connections;
    if (!targets) return 0;
    for (const connection of targets) connection.push(topic, data, subscriptionId);
    return targets.size;
  }

  /**
   * Graceful shutdown: stops accepting, refuses new requests with SHUTTING_DOWN, waits up to
   * `timeoutMs` for in-flight requests, aborts the rest and answers each with SHUTTING_DOWN, says
   * goodbye and removes the socket file.
   */
  async close(options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    clearInterval(this.#heartbeat);
    const server = this.#server;
    const stopped = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    const running = [...this.#connections].flatMap((connection) => connection.inFlightDone());
    const timeoutMs = options.timeoutMs ?? 5000;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(running),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    const reason = new ClawError('SHUTTING_DOWN', 'Server is shutting down');
    for (const connection of this.#connections) {
      connection.cutInFlight(reason);
      connection.goodbye('Server is shutting down', true);
    }
    await stopped;
    this.#timeouts.clear();
    if (server) await unlink(this.socketPath).catch(() => {});
    this.#logger.info({ socketPath: this.socketPath }, 'closed');
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #accept(socket: Socket): void {
    if (this.#closing) {
      socket.destroy();
      return;
    }
    if (this.#handshaking >= this.#maxPendingHandshakes) {
      this.#internals.badPeerLog.warn(
        { pendingHandshakes: this.#handshaking },
        'too many connections without a handshake; closing a new one',
      );
      socket.destroy();
      return;
    }
    this.#handshaking += 1;
    const connection = new ServerConnection(`c${this.#nextConnectionId++}`, socket, this.#internals);
    this.#connections.add(connection);
  }

  #checkHeartbeats(): void {
    const now = Date.now();
    for (const connection of this.#connections) {
      if (!connection.authenticated) continue;
      if (now - connection.lastSeen > this.#options.heartbeatTimeoutMs) {
        this.#logger.warn(
          { connectionId: connection.id, agent: connection.identity },
          'peer missed heartbeats; closing',
        );
        connection.fail(
          new ClawError('PEER_UNRESPONSIVE', `No frame from the peer for ${now - connection.lastSeen} ms`),
        );
      } else {
        connection.ping();
      }
    }
  }
}
