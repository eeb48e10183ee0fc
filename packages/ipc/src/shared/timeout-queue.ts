/** Something that can time out; `expire` is called at most once, at or after its deadline. */
export interface Expirable {
  expire(): void;
}

/** A scheduled timeout; pass it to `cancel`. */
export interface TimeoutEntry {
  readonly deadline: number;
}

interface Entry extends TimeoutEntry {
  item: Expirable;
  active: boolean;
  lane: Lane;
}

interface Lane {
  /** Slots before `head` are emptied as it passes them, so settled requests can be collected. */
  entries: (Entry | undefined)[];
  head: number;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Timeouts for many short-lived requests without a timer each. Requests with the same timeout
 * share a lane: their deadlines are added in order, so each lane is a FIFO with one timer armed
 * for its oldest live entry. A request that settles is marked inactive, and settled entries at
 * the head are dropped at once, so a lane holds only what is still in flight (plus stragglers
 * behind a slow one). A timer per request cost about 5 µs of a 38 µs round trip.
 *
 * Deadlines use a monotonic clock, so a wall-clock jump neither fires nor delays them.
 */
export class TimeoutQueue {
  readonly #lanes = new Map<number, Lane>();
  readonly #now: () => number;

  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /** Schedules `item.expire()` after `timeoutMs`; returns a handle for `cancel`. */
  add(timeoutMs: number, item: Expirable): TimeoutEntry {
    let lane = this.#lanes.get(timeoutMs);
    if (!lane) {
      lane = { entries: [], head: 0, timer: undefined };
      this.#lanes.set(timeoutMs, lane);
    }
    const entry: Entry = { deadline: this.#now() + timeoutMs, item, active: true, lane };
    lane.entries.push(entry);
    if (lane.timer === undefined) this.#arm(timeoutMs, lane);
    return entry;
  }

  /**
   * The request settled: it will not expire. The lane's timer stays armed (it finds nothing and
   * re-arms or goes), so a steady stream of requests costs no timer per request.
   */
  cancel(handle: TimeoutEntry): void {
    const entry = handle as Entry;
    if (!entry.active) return;
    entry.active = false;
    if (entry.lane.entries[entry.lane.head] === entry) this.#dropSettled(entry.lane);
  }

  /** Clears every timer; nothing expires afterwards. */
  clear(): void {
    for (const lane of this.#lanes.values()) clearTimeout(lane.timer);
    this.#lanes.clear();
  }

  #arm(timeoutMs: number, lane: Lane): void {
    this.#dropSettled(lane);
    const next = lane.entries[lane.head];
    if (next === undefined) {
      this.#lanes.delete(timeoutMs);
      lane.timer = undefined;
      return;
    }
    lane.timer = setTimeout(() => this.#fire(timeoutMs, lane), Math.max(0, next.deadline - this.#now()));
    lane.timer.unref();
  }

  #fire(timeoutMs: number, lane: Lane): void {
    lane.timer = undefined;
    const now = this.#now();
    while (lane.head < lane.entries.length) {
      const entry = lane.entries[lane.head]!;
      if (entry.active && entry.deadline > now) break;
      lane.entries[lane.head] = undefined;
      lane.head += 1;
      if (entry.active) {
        entry.active = false;
        entry.item.expire();
      }
    }
    if (this.#lanes.get(timeoutMs) === lane) this.#arm(timeoutMs, lane);
  }

  #dropSettled(lane: Lane): void {
    while (lane.head < lane.entries.length && !lane.entries[lane.head]!.active) {
      lane.entries[lane.head] = undefined;
      lane.head += 1;
    }
    if (lane.head > 1024 && lane.head * 2 > lane.entries.length) {
      lane.entries = lane.entries.slice(lane.head);
      lane.head = 0;
    }
  }

  /** Entries held, settled ones included: for tests that check the queue stays small. */
  get size(): number {
    let size = 0;
    for (const lane of this.#lanes.values()) size += lane.entries.length - lane.head;
    return size;
  }
}
