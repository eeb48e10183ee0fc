import type { ErrorCode } from '@clawfleet/protocol';

/**
 * The HTTP status of each ClawError code a route can meet. The body always carries the code itself
 * (`{ error: { code, message } }`), so clients branch on the code; the status is for proxies, logs
 * and people reading a network tab. Anything not listed is a 500.
 */
const STATUS: Partial<Record<ErrorCode, number>> = {
  INVALID_PARAMS: 400,
  AUTH_FAILED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  // A recorded prompt pruned by retention: it existed and is gone.
  NOT_RETAINED: 410,
  UNKNOWN_REDUCER: 404,
  // The reducer refused what was asked (a plan already decided, a resolved request): the state conflicts.
  REDUCER_REJECTED: 409,
  CONFLICT: 409,
  // A replay asked of another model file than the one recorded.
  MODEL_MISMATCH: 409,
  TOO_MANY_REQUESTS: 429,
  QUEUE_FULL: 429,
  SHUTTING_DOWN: 503,
  DATABASE_ERROR: 503,
  TIMEOUT: 504,
};

export function httpStatusFor(code: ErrorCode): number {
  return STATUS[code] ?? 500;
}
