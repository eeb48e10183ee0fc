/**
 * Watches a connection for signs of life: any frame from the server counts (`seen()`). A server
 * silent for `timeoutMs` is taken as dead and `onSilent` is called once per check that finds it
 * so (the client then drops the socket and reconnects). The timer does not keep the process alive.
 */
export class HeartbeatWatch {
  #lastSeen = Date.now();
  readonly #timer: NodeJS.Timeout;

  constructor(intervalMs: number, timeoutMs: number, onSilent: (silentMs: number) => void) {
    this.#timer = setInterval(
      () => {
        const silentMs = Date.now() - this.#lastSeen;
        if (silentMs > timeoutMs) onSilent(silentMs);
      },
      Math.min(intervalMs, timeoutMs),
    );
    this.#timer.unref();
  }

  seen(): void {
    this.#lastSeen = Date.now();
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
