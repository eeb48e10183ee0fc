import type { BusClient } from '@clawfleet/bus-client';
import type { Logger } from '@clawfleet/protocol';

export interface AgentHeartbeatOptions {
  bus: BusClient;
  /** Seconds between heartbeats. */
  intervalSeconds: number;
  logger: Logger;
}

/**
 * Sends `agent_heartbeat` at once and then every `intervalSeconds`, which moves the agent's
 * `last_heartbeat_at`: the orchestrator's supervisor restarts an agent whose heartbeats stop
 * (docs/agents.md#supervision). The timer runs on the agent's event loop, so a heartbeat says the
 * loop turns and the bus answers; a model call is a request to the orchestrator and does not hold
 * the loop. A heartbeat still in flight is not doubled; a failed one is logged and the next one tried.
 */
export class AgentHeartbeat implements Disposable {
  readonly #options: AgentHeartbeatOptions;
  #timer: NodeJS.Timeout | undefined;
  #sending = false;
  #failing = false;

  constructor(options: AgentHeartbeatOptions) {
    this.#options = options;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => void this.#beat(), this.#options.intervalSeconds * 1000);
    this.#timer.unref();
    void this.#beat();
  }

  async #beat(): Promise<void> {
    if (this.#sending || this.#timer === undefined) return;
    this.#sending = true;
    try {
      await this.#options.bus.callReducer('agent_heartbeat', { status: 'running' });
      if (this.#failing) this.#options.logger.info({}, 'heartbeats get through again');
      this.#failing = false;
    } catch (error) {
      if (this.#timer === undefined) return;
      // Logged once per run of failures: a lost connection fails every beat until it is back.
      if (!this.#failing) this.#options.logger.warn({ err: error }, 'heartbeat failed; retrying at the next one');
      this.#failing = true;
    } finally {
      this.#sending = false;
    }
  }

  [Symbol.dispose](): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
