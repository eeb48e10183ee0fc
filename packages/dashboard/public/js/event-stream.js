// The live connection to `GET /events`: reconnects with `Last-Event-ID` so nothing is missed, and
// tells the page to reload its data when the server says it cannot resume (`reset`) or when it
// reconnects without an id to resume from.

import { SseParser } from './sse-parser.js';

/**
 * @typedef {'connecting' | 'live' | 'reconnecting' | 'unauthorized' | 'stopped'} StreamState
 * @typedef {{
 *   onEvent: (event: import('./sse-parser.js').ServerSentEvent) => void,
 *   onResync: () => void | Promise<void>,
 *   onState: (state: StreamState, detail: string) => void,
 * }} EventStreamHandlers
 */

const MIN_DELAY_MS = 500;
const MAX_DELAY_MS = 10_000;

export class EventStream {
  /** @type {EventStreamHandlers} */
  #handlers;
  #path;
  /** @type {string | undefined} */
  #lastEventId;
  #controller = new AbortController();
  #delayMs = MIN_DELAY_MS;
  #stopped = false;

  /**
   * @param {string} path
   * @param {EventStreamHandlers} handlers
   */
  constructor(path, handlers) {
    this.#path = path;
    this.#handlers = handlers;
  }

  /** The id of the last event received: what a reconnect resumes from. */
  get lastEventId() {
    return this.#lastEventId;
  }

  /** Connects and keeps reconnecting until {@link stop}; resolves when stopped. */
  async run() {
    while (!this.#stopped) {
      const outcome = await this.#connectOnce();
      if (this.#stopped) break;
      if (outcome === 'unauthorized') {
        this.#handlers.onState('unauthorized', 'The session has ended: log in again.');
        return;
      }
      this.#handlers.onState('reconnecting', `${outcome} Reconnecting in ${Math.round(this.#delayMs / 100) / 10} s.`);
      await sleep(this.#delayMs, this.#controller.signal);
      this.#delayMs = Math.min(this.#delayMs * 2, MAX_DELAY_MS);
    }
    this.#handlers.onState('stopped', 'Live updates are off.');
  }

  stop() {
    this.#stopped = true;
    this.#controller.abort();
  }

  /** @returns {Promise<string>} why the connection ended: 'unauthorized' or words for a person */
  async #connectOnce() {
    this.#handlers.onState(
      this.#lastEventId === undefined ? 'connecting' : 'reconnecting',
      'Connecting to live updates.',
    );
    /** @type {Record<string, string>} */
    const headers = { accept: 'text/event-stream' };
    if (this.#lastEventId !== undefined) headers['last-event-id'] = this.#lastEventId;
    /** @type {Response} */
    let response;
    try {
      response = await fetch(this.#path, { headers, credentials: 'same-origin', signal: this.#controller.signal });
    } catch (error) {
      return `Live updates lost: the orchestrator cannot be reached (${String(error)}).`;
    }
    if (response.status === 401) return 'unauthorized';
    if (!response.ok || response.body === null) {
      return `Live updates refused: HTTP ${response.status}.`;
    }
    // Without an id to resume from, events between the last load and now may be missing: reload.
    const resuming = this.#lastEventId !== undefined;
    if (!resuming) await this.#handlers.onResync();
    this.#handlers.onState('live', 'Live: updates arrive as they happen.');
    this.#delayMs = MIN_DELAY_MS;
    const parser = new SseParser();
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return 'Live updates ended by the server.';
        for (const event of parser.push(value)) {
          if (event.id !== undefined) this.#lastEventId = event.id;
          if (event.event === 'reset') {
            await this.#handlers.onResync();
            continue;
          }
          this.#handlers.onEvent(event);
        }
      }
    } catch (error) {
      return `Live updates interrupted (${String(error)}).`;
    } finally {
      reader.releaseLock();
    }
  }
}

/**
 * @param {number} ms
 * @param {AbortSignal} signal
 */
function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve(undefined);
      },
      { once: true },
    );
  });
}
