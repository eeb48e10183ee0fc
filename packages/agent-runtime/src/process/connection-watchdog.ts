/**
 * Ends an agent that has lost its orchestrator. An agent runs in its own process group, so when the
 * orchestrator dies (SIGKILL, a removed data dir) nothing else stops it: without this it would try
 * to reconnect forever. The watchdog allows a window (default 30 s) for the orchestrator to come
 * back, which a restart fits in; past it, or at once when a reconnect is refused (the token is no
 * longer valid), it reports why and the agent exits (agent-main.ts, docs/agents.md).
 */
import type { ClawError } from '@clawfleet/protocol';

/** What the watchdog listens to: `IpcClient` satisfies it. */
export interface WatchedConnection {
  on(event: 'disconnected', listener: (error: ClawError) => void): unknown;
  on(event: 'reconnected', listener: () => void): unknown;
  on(event: 'gaveUp', listener: (error: ClawError) => void): unknown;
  off(event: 'disconnected', listener: (error: ClawError) => void): unknown;
  off(event: 'reconnected', listener: () => void): unknown;
  off(event: 'gaveUp', listener: (error: ClawError) => void): unknown;
}

export type ConnectionLoss = { kind: 'unreachable'; windowMs: number } | { kind: 'refused'; error: ClawError };

export interface ConnectionWatchdog {
  dispose(): void;
}

/** Calls `onLost` once: when the connection stays down for `windowMs`, or when the connection gives up (a reconnect refused, a goodbye without reconnect). */
export function watchConnection(
  connection: WatchedConnection,
  options: { windowMs: number; onLost: (loss: ConnectionLoss) => void },
): ConnectionWatchdog {
  let timer: NodeJS.Timeout | undefined;
  let done = false;
  const lost = (loss: ConnectionLoss) => {
    if (done) return;
    done = true;
    if (timer !== undefined) clearTimeout(timer);
    options.onLost(loss);
  };
  const onDisconnected = () => {
    if (timer === undefined && !done) {
      timer = setTimeout(() => lost({ kind: 'unreachable', windowMs: options.windowMs }), options.windowMs);
    }
  };
  const onReconnected = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  };
  const onRefused = (error: ClawError) => lost({ kind: 'refused', error });
  connection.on('disconnected', onDisconnected);
  connection.on('reconnected', onReconnected);
  connection.on('gaveUp', onRefused);
  return {
    dispose() {
      done = true;
      if (timer !== undefined) clearTimeout(timer);
      connection.off('disconnected', onDisconnected);
      connection.off('reconnected', onReconnected);
      connection.off('gaveUp', onRefused);
    },
  };
}
