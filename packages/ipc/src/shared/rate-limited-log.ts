import type { Logger } from '@clawfleet/protocol';

/**
 * Logs at most `limit` warnings per window; the rest are counted and summarised once the window
 * ends. A peer that sends garbage in a loop must not be able to flood the logs.
 */
export class RateLimitedLog {
  readonly #logger: Logger;
  readonly #limit: number;
  readonly #windowMs: number;
  #windowStart = 0;
  #count = 0;
  #suppressed = 0;

  constructor(logger: Logger, options: { limit?: number; windowMs?: number } = {}) {
    this.#logger = logger;
    this.#limit = options.limit ?? 20;
    this.#windowMs = options.windowMs ?? 10_000;
  }

  warn(object: Record<string, unknown>, message: string): void {
    const now = Date.now();
    if (now - this.#windowStart >= this.#windowMs) {
      if (this.#suppressed > 0) {
        this.#logger.warn(
          { suppressed: this.#suppressed, windowMs: this.#windowMs },
          'suppressed repeated peer warnings',
        );
      }
      this.#windowStart = now;
      this.#count = 0;
      this.#suppressed = 0;
    }
    if (this.#count < this.#limit) {
      this.#count += 1;
      this.#logger.warn(object, message);
    } else {
      this.#suppressed += 1;
    }
  }

  get suppressed(): number {
    return this.#suppressed;
  }
}
