import { type BusClient, EmbeddedBusClient } from '@clawfleet/bus-client';
import { InferenceClient, type InferenceClientOptions } from '@clawfleet/inference-client';
import { IpcClient } from '@clawfleet/ipc';
import { ClawError, describeValue, type Logger, silentLogger } from '@clawfleet/protocol';

export interface ConnectAgentOptions {
  /** The orchestrator's IPC socket. */
  socketPath: string;
  /** The agent name to authenticate as: the caller of every reducer and inference request. */
  name: string;
  token: string;
  logger?: Logger;
  /** Cancels connecting; once connected, dispose the connection instead. */
  signal?: AbortSignal;
  /** Default per-request timeout of bus and inference calls. @default 30000 */
  requestTimeoutMs?: number;
  /** @default 10000 */
  connectTimeoutMs?: number;
  /** Reconnect after the orchestrator restarts; the bus re-subscribes and reconciles its cache. @default true */
  reconnect?: boolean;
  inference?: InferenceClientOptions;
}

/** An agent's one connection to the orchestrator and the two clients that share it. */
export interface AgentConnection extends AsyncDisposable {
  /** The name the connection authenticated as. */
  readonly name: string;
  /** The agent's database identity, lowercase hex. */
  readonly identity: string;
  readonly bus: BusClient;
  readonly inference: InferenceClient;
  /** The connection itself, for its `disconnected` and `reconnected` events. */
  readonly ipc: IpcClient;
  /** Ends the bus subscriptions, then closes the connection. Safe to call twice. */
  dispose(): Promise<void>;
}

class Connection implements AgentConnection {
  readonly name: string;
  readonly identity: string;
  readonly bus: EmbeddedBusClient;
  readonly inference: InferenceClient;
  readonly ipc: IpcClient;
  #disposed: Promise<void> | undefined;

  constructor(ipc: IpcClient, bus: EmbeddedBusClient, inference: InferenceClient) {
    this.ipc = ipc;
    this.bus = bus;
    this.inference = inference;
    this.name = bus.name;
    this.identity = bus.identity;
  }

  dispose(): Promise<void> {
    this.#disposed ??= (async () => {
      try {
        await this.bus.dispose();
      } finally {
        await this.ipc.close();
      }
    })();
    return this.#disposed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}

/**
 * Opens one authenticated connection to the orchestrator and returns the bus and inference clients
 * over it: the agent registers as connected once, and disposing the result closes both. Rejects with
 * CONNECT_FAILED, AUTH_FAILED (from the handshake), CONFIG_INVALID or CANCELLED.
 *
 * ```ts
 * await using agent = await connectAgent({ socketPath, name: 'OpsClaw', token });
 * await agent.bus.reducers.claimTask({ task_id: 1, lease_seconds: 60 });
 * const { text } = await agent.inference.generate('Summarise the task');
 * ```
 */
export async function connectAgent(options: ConnectAgentOptions): Promise<AgentConnection> {
  if (typeof options !== 'object' || options === null) {
    throw new ClawError('CONFIG_INVALID', `Expected \`options\` to be an object, got ${describeValue(options)}`);
  }
  if (options.signal?.aborted) throw new ClawError('CANCELLED', 'Connecting was cancelled');
  const logger = (options.logger ?? silentLogger).child({ agent: options.name });
  const reconnect = options.reconnect ?? true;
  const ipc = await IpcClient.connect({
    socketPath: options.socketPath,
    agent: options.name,
    token: options.token,
    logger,
    requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    reconnect,
  });
  try {
    options.signal?.throwIfAborted();
    const bus = await EmbeddedBusClient.attach(ipc, { logger, reconnects: reconnect, signal: options.signal });
    return new Connection(ipc, bus, new InferenceClient(ipc, options.inference));
  } catch (error) {
    await ipc.close();
    if (options.signal?.aborted) throw new ClawError('CANCELLED', 'Connecting was cancelled', { cause: error });
    throw error;
  }
}
