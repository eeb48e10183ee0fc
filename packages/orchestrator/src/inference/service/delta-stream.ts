/**
 * Forwards text deltas to a sink whose send resolves when the socket can take more. The model's
 * token loop never waits for the socket: while a send is in flight, new text is appended to one
 * pending chunk and sent when the previous send resolves. Order is kept and nothing is dropped.
 */
export class DeltaStream {
  readonly #send: (text: string) => Promise<void>;
  #pending = '';
  #inFlight: Promise<void> | undefined;
  #failure: unknown;

  constructor(send: (text: string) => Promise<void>) {
    this.#send = send;
  }

  push(text: string): void {
    if (text.length === 0 || this.#failure !== undefined) return;
    this.#pending += text;
    if (this.#inFlight === undefined) this.#pump();
  }

  /** Resolves when everything pushed was sent; rejects with the first send failure. */
  async flush(): Promise<void> {
    while (this.#inFlight !== undefined) await this.#inFlight;
    if (this.#failure !== undefined) throw this.#failure;
  }

  #pump(): void {
    const text = this.#pending;
    this.#pending = '';
    this.#inFlight = this.#send(text).then(
      () => {
        this.#inFlight = undefined;
        if (this.#pending.length > 0 && this.#failure === undefined) this.#pump();
      },
      (error: unknown) => {
        this.#failure = error;
        this.#inFlight = undefined;
      },
    );
  }
}
