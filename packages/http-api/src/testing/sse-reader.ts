import { request } from 'node:http';

/** One parsed server-sent event. */
export interface ReceivedEvent {
  id: string | undefined;
  event: string;
  data: string;
}

/**
 * A minimal event-stream client over node:http (tests and the benchmark): connects with the given
 * headers, parses frames as they arrive, and lets the caller wait for a condition on what arrived.
 */
export class SseReader {
  readonly events: ReceivedEvent[] = [];
  readonly comments: string[] = [];
  status = 0;
  #buffer = '';
  #waiters: (() => void)[] = [];
  #destroy: () => void = () => {};
  #ended = false;
  /** Called for each event as it is parsed (the benchmark timestamps arrivals). */
  onEvent: ((event: ReceivedEvent) => void) | undefined;

  static connect(url: string, headers: Record<string, string>): Promise<SseReader> {
    const reader = new SseReader();
    return new Promise((resolve, reject) => {
      const outgoing = request(url, { headers: { accept: 'text/event-stream', ...headers } }, (response) => {
        reader.status = response.statusCode ?? 0;
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => reader.#feed(chunk));
        response.on('end', () => reader.#end());
        response.on('error', () => reader.#end());
        resolve(reader);
      });
      reader.#destroy = () => outgoing.destroy();
      outgoing.on('error', (error) => {
        reader.#end();
        reject(error);
      });
      outgoing.end();
    });
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** The id of the last event that carried one. */
  get lastId(): string | undefined {
    for (let index = this.events.length - 1; index >= 0; index--) {
      const id = this.events[index]?.id;
      if (id !== undefined) return id;
    }
    return undefined;
  }

  /** Resolves once `condition` holds (checked after every event), or rejects after `timeoutMs`. */
  async until(condition: () => boolean, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (this.#ended) throw new Error('the event stream ended before the condition held');
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`condition not met within ${timeoutMs} ms (${this.events.length} events)`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(remaining, 1000));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.#destroy();
    this.#end();
  }

  #feed(chunk: string): void {
    this.#buffer += chunk;
    for (;;) {
      const end = this.#buffer.indexOf('\n\n');
      if (end === -1) break;
      const block = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 2);
      const event: ReceivedEvent = { id: undefined, event: 'message', data: '' };
      let hasData = false;
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) this.comments.push(line.slice(1).trim());
        else if (line.startsWith('id: ')) event.id = line.slice(4);
        else if (line.startsWith('event: ')) event.event = line.slice(7);
        else if (line.startsWith('data: ')) {
          event.data = hasData ? `${event.data}\n${line.slice(6)}` : line.slice(6);
          hasData = true;
        }
      }
      if (hasData) {
        this.events.push(event);
        this.onEvent?.(event);
      }
    }
    this.#wake();
  }

  #end(): void {
    this.#ended = true;
    this.#wake();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter();
  }
}
