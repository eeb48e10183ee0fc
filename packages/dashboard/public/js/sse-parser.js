// A Server-Sent Events parser (the WHATWG "event stream" format), fed text chunks as they arrive.
// The dashboard reads `/events` with fetch rather than EventSource so that it can send
// `Last-Event-ID` itself on every reconnect (EventSource does only on its own retries) and see a
// 401 as a 401 rather than an endless retry.

/** @typedef {{ id: string | undefined, event: string, data: string }} ServerSentEvent */

export class SseParser {
  #buffer = '';
  /** @type {string[]} */
  #data = [];
  #event = '';
  /** @type {string | undefined} */
  #id;
  /** @type {number | undefined} */
  retryMs;

  /**
   * Feeds a chunk; returns the events it completed, in order. Lines may end in LF, CR or CRLF, and a
   * chunk may end anywhere (mid-line, between CR and LF).
   * @param {string} chunk
   * @returns {ServerSentEvent[]}
   */
  push(chunk) {
    this.#buffer += chunk;
    /** @type {ServerSentEvent[]} */
    const events = [];
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.#buffer);
      if (match === null) break;
      // A CR at the very end may be the first half of a CRLF split across chunks: wait for more.
      if (match[0] === '\r' && match.index === this.#buffer.length - 1) break;
      const line = this.#buffer.slice(0, match.index);
      this.#buffer = this.#buffer.slice(match.index + match[0].length);
      const event = this.#line(line);
      if (event !== undefined) events.push(event);
    }
    return events;
  }

  /**
   * @param {string} line
   * @returns {ServerSentEvent | undefined}
   */
  #line(line) {
    if (line === '') {
      if (this.#data.length === 0) {
        this.#event = '';
        return undefined;
      }
      const event = { id: this.#id, event: this.#event === '' ? 'message' : this.#event, data: this.#data.join('\n') };
      this.#data = [];
      this.#event = '';
      return event;
    }
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.#data.push(value);
    else if (field === 'event') this.#event = value;
    else if (field === 'id' && !value.includes('\0')) this.#id = value;
    else if (field === 'retry' && /^\d+$/.test(value)) this.retryMs = Number(value);
    return undefined;
  }

  /** The id of the last event seen (sent back as `Last-Event-ID` on a reconnect). */
  get lastEventId() {
    return this.#id;
  }
}
