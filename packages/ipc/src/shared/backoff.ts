export interface BackoffOptions {
  /** @default 50 */
  initialDelayMs?: number;
  /** @default 5000 */
  maxDelayMs?: number;
  /** @default 2 */
  factor?: number;
}

/** Exponential backoff with full jitter: a random delay in [0, min(max, initial * factor^attempt)]. */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  const initial = options.initialDelayMs ?? 50;
  const max = options.maxDelayMs ?? 5000;
  const factor = options.factor ?? 2;
  const ceiling = Math.min(max, initial * factor ** Math.min(attempt, 30));
  return Math.round(random() * ceiling);
}

/** Sleeps, waking early (and resolving `false`) when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
