/** One server-sent event, formatted once, shared by every client. */
export interface LoggedEvent {
  readonly id: number;
  /** The complete SSE frame: `id:`, `event:`, `data:` lines and the blank line. */
  readonly frame: string;
}

/** What a reconnecting client gets: the events it missed, or a reset when they are gone. */
export type ResumeResult =
  | { kind: 'events'; events: LoggedEvent[] }
  | { kind: 'reset'; oldestId: number; newestId: number };

/**
 * The events of this process, numbered from `firstId` up by one, and kept in a ring of `capacity` for
 * `Last-Event-ID` resume. A client whose last id is still in the ring (or is the newest) gets exactly
 * the events after it; one whose id fell out of the ring, or comes from another numbering, gets a
 * reset and must reload its state. The event stream starts each process's numbering at its start
 * time in microseconds, so ids only grow across restarts: an id of an earlier process is always below
 * this one's first, and resets instead of resuming from the wrong place.
 */
export class EventLog {
  readonly #capacity: number;
  readonly #ring: (LoggedEvent | undefined)[];
  readonly #firstId: number;
  #newestId: number;

  constructor(capacity: number, firstId = 1) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`Expected \`capacity\` to be a positive integer, got ${capacity}`);
    }
    if (!Number.isSafeInteger(firstId) || firstId < 1) {
      throw new RangeError(`Expected \`firstId\` to be a positive integer, got ${firstId}`);
    }
    this.#capacity = capacity;
    this.#ring = new Array(capacity);
    this.#firstId = firstId;
    this.#newestId = firstId - 1;
  }

  get newestId(): number {
    return this.#newestId;
  }

  /** The oldest id still kept (newestId + 1 when nothing was logged yet). */
  get oldestId(): number {
    return Math.max(this.#firstId, this.#newestId - this.#capacity + 1);
  }

  append(type: string, data: unknown): LoggedEvent {
    const id = this.#newestId + 1;
    // JSON.stringify never emits a raw newline, so one `data:` line carries the whole payload.
    const event = { id, frame: `id: ${id}\nevent: ${type}\ndata: ${JSON.stringify(data, bigintAsString)}\n\n` };
    this.#ring[id % this.#capacity] = event;
    this.#newestId = id;
    return event;
  }

  /** The events after `lastId`, or a reset when some of them are no longer kept. */
  since(lastId: number): ResumeResult {
    if (lastId > this.#newestId || lastId < this.oldestId - 1) {
      return { kind: 'reset', oldestId: this.oldestId, newestId: this.#newestId };
    }
    const events: LoggedEvent[] = [];
    for (let id = lastId + 1; id <= this.#newestId; id++) events.push(this.#ring[id % this.#capacity]!);
    return { kind: 'events', events };
  }
}

/** Row values beyond 2^53 arrive as bigint; JSON carries them as decimal strings. */
export function bigintAsString(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}
