// The HTTP API, same origin: the session cookie set by `POST /api/login` authenticates every call.

/** An answer that was not a success: the server's ClawError code and message, or what went wrong on the way. */
export class ApiError extends Error {
  /**
   * @param {string} code  the server's error code (`UNAUTHORIZED`, `NOT_FOUND`, ...) or `NETWORK` / `BAD_RESPONSE`
   * @param {string} message  words for a person
   * @param {number} status  the HTTP status, 0 when no answer came
   */
  constructor(code, message, status) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
  }

  /** Whether the session is missing or expired (the login form is the answer). */
  get unauthorized() {
    return this.status === 401;
  }

  /** The message with its code, as shown to a person. */
  describe() {
    return this.status === 0 ? this.message : `${this.message} (${this.code}, HTTP ${this.status})`;
  }
}

/** Listeners told when any call answers 401, so the page can ask for the token again. */
/** @type {Set<() => void>} */
const unauthorizedListeners = new Set();

/** @param {() => void} listener */
export function onUnauthorized(listener) {
  unauthorizedListeners.add(listener);
}

/**
 * Calls the API and returns its JSON. Rejects with an {@link ApiError} for an error answer (its
 * `{ error: { code, message } }` body), a network failure or a body that is not JSON.
 * @param {'GET' | 'POST'} method
 * @param {string} path
 * @param {unknown} [body]
 * @param {AbortSignal} [signal]
 * @returns {Promise<unknown>}
 */
export async function request(method, path, body, signal) {
  /** @type {Response} */
  let response;
  try {
    response = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers:
        body === undefined
          ? { accept: 'application/json' }
          : { accept: 'application/json', 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new ApiError('NETWORK', `The dashboard cannot reach the orchestrator (${String(error)})`, 0);
  }
  const text = await response.text();
  /** @type {unknown} */
  let parsed;
  try {
    parsed = text === '' ? null : JSON.parse(text);
  } catch {
    throw new ApiError('BAD_RESPONSE', `The server answered ${path} with something that is not JSON`, response.status);
  }
  if (response.ok) return parsed;
  const error = errorBody(parsed);
  if (response.status === 401) for (const listener of unauthorizedListeners) listener();
  throw new ApiError(
    error?.code ?? `HTTP_${response.status}`,
    error?.message ?? `The server answered ${method} ${path} with HTTP ${response.status}`,
    response.status,
  );
}

/**
 * @param {unknown} body
 * @returns {{ code: string, message: string } | undefined}
 */
function errorBody(body) {
  if (typeof body !== 'object' || body === null || !('error' in body)) return undefined;
  const error = body.error;
  if (typeof error !== 'object' || error === null) return undefined;
  const code = 'code' in error && typeof error.code === 'string' ? error.code : undefined;
  const message = 'message' in error && typeof error.message === 'string' ? error.message : undefined;
  return code === undefined || message === undefined ? undefined : { code, message };
}

/**
 * A GET whose answer must be an array, or an object holding one under `key`.
 * @param {string} path
 * @param {string} key
 * @param {AbortSignal} [signal]
 * @returns {Promise<Record<string, unknown>[]>}
 */
export async function getRows(path, key, signal) {
  const body = await request('GET', path, undefined, signal);
  const rows = Array.isArray(body) ? body : isRecord(body) && Array.isArray(body[key]) ? body[key] : undefined;
  if (rows === undefined)
    throw new ApiError('BAD_RESPONSE', `The server answered ${path} without a list of ${key}`, 200);
  return rows.filter(isRecord);
}

/**
 * @param {unknown} value
 * @returns {value is Record<string, unknown>}
 */
export function isRecord(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
