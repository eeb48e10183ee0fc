import type { ServerResponse } from 'node:http';
import type { BusRowChange, Logger } from '@clawfleet/protocol';
import { EventLog, type LoggedEvent } from './event-log.ts';

/** What the event stream needs from the orchestrator: committed row changes, as they commit. */
export interface RowChangeSource {
  /** Calls `listener` with every committed group of row changes; returns the unsubscribe. */
  onRowChanges(listener: (changes: readonly BusRowChange[]) => void): () => void;
}

export interface EventStreamOptions {
  source: RowChangeSource;
  /**
   * Events kept for `Last-Event-ID` resume; a client further behind gets `event: reset`.
   * @default 10_000
   */
  resumeCapacity?: number;
  /**
   * Bytes that may wait in one client's send buffer; a client past it (it stopped reading) is
   * disconnected, so a slow client never grows the server's memory.
   * @default 1_048_576 (1 MiB)
   */
  clientBufferBytes?: number;
  /**
   * The first event's id. Ids only grow across restarts with the default, so a client's id from an
   * earlier process resets instead of resuming from the wrong place (event-log.ts).
   * @default the time the stream was created, in microseconds since the epoch
   */
  firstEventId?: number;
  /** A comment line this often keeps proxies and browsers from closing an idle stream. @default 15_000 */
  heartbeatMs?: number;
  /** Told when a client is dropped for not reading (metrics). */
  onClientDropped?: () => void;
  logger: Logger;
}

/** The phase of an agent, as the dashboard shows it on the agent's card. */
export interface PhaseEvent {
  agent: string;
  phase: string;
  taskId: unknown;
  cycleId: unknown;
}

interface Client {
  readonly response: ServerResponse;
  readonly id: number;
}

/**
 * `GET /events`: every committed bus row change as `event: row` (`{table, op, row}`) and every
 * change of an agent's phase as `event: phase` (`{agent, phase, taskId, cycleId}`), each with an `id:`
 * a reconnecting client sends back as `Last-Event-ID` to get exactly what it missed
 * (event-log.ts). Events are formatted once and written to every client; a client that does not
 * read is dropped once `clientBufferBytes` wait for it.
 */
export class EventStream {
  readonly #log: EventLog;
  readonly #clients = new Set<Client>();
  readonly #clientBufferBytes: number;
  readonly #heartbeat: NodeJS.Timeout;
  readonly #unsubscribe: () => void;
  readonly #onClientDropped: (() => void) | undefined;
  readonly #logger: Logger;
  #nextClientId = 1;
  #closed = false;

  constructor(options: EventStreamOptions) {
    this.#log = new EventLog(options.resumeCapacity ?? 10_000, options.firstEventId ?? Date.now() * 1000);
    this.#clientBufferBytes = options.clientBufferBytes ?? 1_048_576;
    this.#onClientDropped = options.onClientDropped;
    this.#logger = options.logger.child({ component: 'events' });
    this.#unsubscribe = options.source.onRowChanges((changes) => this.#publishChanges(changes));
    this.#heartbeat = setInterval(() => this.#broadcast(': keep-alive\n\n'), options.heartbeatMs ?? 15_000);
    this.#heartbeat.unref();
  }

  /** Clients connected now. */
  get clientCount(): number {
    return this.#clients.size;
  }

  /** The id of the newest event. */
  get newestId(): number {
    return this.#log.newestId;
  }

  /**
   * Takes over `response` as an event stream. With `lastEventId`, first sends the events after it
   * (or `event: reset`), in the same turn as the client joins, so nothing published in between is lost.
   */
  attach(response: ServerResponse, lastEventId: number | undefined): void {
    if (this.#closed) {
      response.writeHead(503).end();
      return;
    }
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // nginx and similar proxies buffer responses unless told not to.
      'x-accel-buffering': 'no',
    });
    response.socket?.setNoDelay(true);
    const client: Client = { response, id: this.#nextClientId++ };
    // The browser's EventSource waits this long before reconnecting (with Last-Event-ID).
    let opening = 'retry: 2000\n\n';
    if (lastEventId !== undefined) {
      const resumed = this.#log.since(lastEventId);
      if (resumed.kind === 'events') opening += resumed.events.map((event) => event.frame).join('');
      else {
        // Carries the newest id, so the client's next reconnect resumes from here after reloading.
        opening += `id: ${resumed.newestId}\nevent: reset\ndata: ${JSON.stringify({
          reason: `event ${lastEventId} is no longer kept (events ${resumed.oldestId}-${resumed.newestId} are); reload the state`,
          oldestId: resumed.oldestId,
          newestId: resumed.newestId,
        })}\n\n`;
      }
    }
    this.#clients.add(client);
    response.on('close', () => this.#clients.delete(client));
    this.#write(client, opening);
  }

  /** Publishes an event of any type to every client (and the resume log). */
  publish(type: string, data: unknown): LoggedEvent {
    const event = this.#log.append(type, data);
    this.#broadcast(event.frame);
    return event;
  }

  /** Ends every stream and stops listening. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    this.#unsubscribe();
    for (const client of this.#clients) client.response.end();
    this.#clients.clear();
  }

  #publishChanges(changes: readonly BusRowChange[]): void {
    for (const change of changes) {
      this.publish('row', { table: change.table, op: change.op, row: change.row });
      if (change.table !== 'agent_status' || change.op === 'delete') continue;
      const { row, oldRow } = change;
      if (oldRow !== undefined && oldRow.phase === row.phase && oldRow.cycle_id === row.cycle_id) continue;
      const phase: PhaseEvent = {
        agent: String(row.agent),
        phase: String(row.phase),
        taskId: row.task_id ?? null,
        cycleId: row.cycle_id ?? null,
      };
      this.publish('phase', phase);
    }
  }

  #broadcast(frame: string): void {
    for (const client of this.#clients) this.#write(client, frame);
  }

  #write(client: Client, frame: string): void {
    const { response } = client;
    if (response.destroyed) {
      this.#clients.delete(client);
      return;
    }
    if (response.writableLength > this.#clientBufferBytes) {
      this.#clients.delete(client);
      this.#logger.warn(
        { client: client.id, bufferedBytes: response.writableLength },
        'event stream client is not reading; disconnected it (it can reconnect with Last-Event-ID)',
      );
      this.#onClientDropped?.();
      response.destroy();
      return;
    }
    response.write(frame);
  }
}
