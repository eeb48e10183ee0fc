/**
 * Stable error codes. A code is part of the wire protocol: never rename or reuse one, only add.
 * `retryable` is the default for the code; a thrower may override it for a specific case.
 */
export const ERROR_CODES = {
  // Framing and protocol
  BAD_MAGIC: { retryable: false, description: 'The frame header does not start with the Clawfleet magic' },
  PROTOCOL_VERSION_MISMATCH: { retryable: false, description: 'The peer speaks another protocol version' },
  FRAME_TOO_LARGE: { retryable: false, description: 'The header announces a payload above the maximum frame size' },
  MALFORMED_FRAME: { retryable: false, description: 'The payload is not valid msgpack, or the header is invalid' },
  INVALID_FRAME: { retryable: false, description: 'The payload decoded but does not match any frame schema' },
  UNKNOWN_FRAME_TYPE: { retryable: false, description: 'The frame has a type this version does not know' },
  // Handshake and identity
  HANDSHAKE_REQUIRED: { retryable: false, description: 'A frame other than hello arrived before the handshake' },
  HANDSHAKE_TIMEOUT: { retryable: true, description: 'The peer did not complete the handshake in time' },
  AUTH_FAILED: { retryable: false, description: 'Unknown agent name or wrong token' },
  ALREADY_AUTHENTICATED: { retryable: false, description: 'A second hello on an authenticated connection' },
  FORBIDDEN: { retryable: false, description: 'The caller may not do this' },
  // Requests
  UNKNOWN_METHOD: { retryable: false, description: 'No handler is registered for the request method' },
  INVALID_PARAMS: { retryable: false, description: 'The request parameters do not match the method schema' },
  DUPLICATE_REQUEST_ID: { retryable: false, description: 'A request id is already in flight on this connection' },
  TIMEOUT: { retryable: true, description: 'The request did not complete before its deadline' },
  CANCELLED: { retryable: false, description: 'The request was cancelled by its caller' },
  NOT_FOUND: { retryable: false, description: 'The referenced entity does not exist' },
  CONFLICT: { retryable: true, description: 'The entity changed concurrently' },
  INTERNAL: { retryable: false, description: 'An unexpected error in the handler' },
  // Connection
  CONNECTION_CLOSED: { retryable: true, description: 'The connection closed before the request completed' },
  CONNECT_FAILED: { retryable: true, description: 'Could not connect to the server' },
  PEER_UNRESPONSIVE: { retryable: true, description: 'The peer missed its heartbeats' },
  SLOW_CONSUMER: { retryable: true, description: 'The peer did not read its frames fast enough' },
  TOO_MANY_REQUESTS: { retryable: true, description: 'Too many requests in flight on this connection' },
  SHUTTING_DOWN: { retryable: true, description: 'The server is shutting down' },
  SOCKET_IN_USE: { retryable: false, description: 'Another live server owns the socket path' },
  SOCKET_PATH_INVALID: { retryable: false, description: 'The socket path exists and is not a socket, or is unusable' },
  // Database (reducers)
  REDUCER_REJECTED: { retryable: false, description: 'A reducer rejected the call (SenderError)' },
  UNKNOWN_REDUCER: { retryable: false, description: 'No reducer with that name' },
  DATABASE_ERROR: { retryable: true, description: 'The database host failed while running a reducer' },
  SUBSCRIPTION_INVALID: { retryable: false, description: 'The subscription query is not accepted' },
  SCHEMA_MISMATCH: {
    retryable: false,
    description: 'The database file has a schema this version cannot upgrade in place (details.problems names each)',
  },
  // Inference
  MODEL_NOT_FOUND: { retryable: false, description: 'The model file does not exist' },
  MODEL_INVALID: { retryable: false, description: 'The model file is truncated, corrupt or unsupported' },
  MODEL_TOO_LARGE: { retryable: false, description: 'The model cannot fit in the memory budget' },
  INSUFFICIENT_MEMORY: { retryable: true, description: 'Not enough memory right now; retry later' },
  WORKER_CRASHED: { retryable: true, description: 'The inference worker died during the request' },
  QUEUE_FULL: { retryable: true, description: 'The inference queue is full' },
  OUTPUT_INVALID: { retryable: true, description: 'The model output does not match the requested schema' },
  MODEL_MISMATCH: {
    retryable: false,
    description: 'The model loaded now is not the file a recorded call was made with (its sha256 differs)',
  },
  NOT_RETAINED: {
    retryable: false,
    description: 'What a replay needs was not kept (prompt retention, or a call made before recording)',
  },
  // Agent tools and their sandbox
  TOOL_UNKNOWN: { retryable: false, description: 'No tool with that name exists' },
  TOOL_NOT_ALLOWED: { retryable: false, description: "The tool exists but is not on this agent's allowlist" },
  TOOL_ARGS_INVALID: { retryable: false, description: "The tool arguments do not match the tool's schema" },
  TOOL_FAILED: { retryable: false, description: 'The tool ran and failed (the message says why)' },
  SANDBOX_VIOLATION: {
    retryable: false,
    description: 'A path, file or argument would leave the sandbox (details.rule names the rule)',
  },
  COMMAND_NOT_ALLOWED: { retryable: false, description: "The executable is not on this agent's command allowlist" },
  COMMAND_TIMEOUT: { retryable: false, description: 'The command ran past its time limit and was killed' },
  COMMAND_OUTPUT_LIMIT: { retryable: false, description: 'The command wrote more than its output cap and was killed' },
  // Memory
  IMPORT_INVALID: { retryable: false, description: 'A memory import file has a malformed line or a dangling source' },
  // Agent containers
  ENGINE_UNAVAILABLE: { retryable: true, description: 'The container engine (Docker) cannot be reached' },
  IMAGE_NOT_FOUND: { retryable: false, description: 'The container image is not on the engine (build it first)' },
  CONTAINER_FAILED: {
    retryable: true,
    description: 'The engine refused to create or start an agent container (details.reason says why)',
  },
  // Configuration
  CONFIG_INVALID: { retryable: false, description: 'A configuration option is missing or invalid' },
  // Responses
  INVALID_RESPONSE: { retryable: false, description: 'A response does not match the result schema of its method' },
} as const satisfies Record<string, { retryable: boolean; description: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

/** JSON-safe value: what `details` may hold so it can cross the socket unchanged. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** The serialised form of a {@link ClawError}; this is what travels in `error` frames. */
export interface ClawErrorJson {
  code: ErrorCode;
  message: string;
  retryable: boolean;
  details?: Record<string, JsonValue>;
}

export interface ClawErrorOptions {
  /** Overrides the code's default. */
  retryable?: boolean;
  details?: Record<string, JsonValue>;
  cause?: unknown;
}

/**
 * The one base error of Clawfleet. Callers branch on `code`, never on `message`.
 * It survives the wire: `toJSON()` on one side, `ClawError.fromJSON()` on the other.
 */
export class ClawError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: Record<string, JsonValue>;

  constructor(code: ErrorCode, message: string, options: ClawErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ClawError';
    this.code = code;
    this.retryable = options.retryable ?? ERROR_CODES[code].retryable;
    this.details = options.details ?? {};
  }

  toJSON(): ClawErrorJson {
    const json: ClawErrorJson = { code: this.code, message: this.message, retryable: this.retryable };
    if (Object.keys(this.details).length > 0) json.details = this.details;
    return json;
  }

  /** Rebuilds an error received from a peer. An unknown code (a newer peer) becomes INTERNAL. */
  static fromJSON(json: { code: string; message: string; retryable?: boolean; details?: unknown }): ClawError {
    const code = isErrorCode(json.code) ? json.code : 'INTERNAL';
    const details = isJsonObject(json.details) ? json.details : {};
    if (code !== json.code) details.originalCode = json.code;
    return new ClawError(code, json.message, {
      retryable: json.retryable ?? ERROR_CODES[code].retryable,
      details,
    });
  }

  /** Wraps anything thrown into a ClawError, keeping a ClawError as it is. */
  static from(error: unknown, fallback: ErrorCode = 'INTERNAL'): ClawError {
    if (error instanceof ClawError) return error;
    const message = error instanceof Error ? error.message : String(error);
    return new ClawError(fallback, message, { cause: error });
  }
}

export function isClawError(error: unknown, code?: ErrorCode): error is ClawError {
  return error instanceof ClawError && (code === undefined || error.code === code);
}

function isJsonObject(value: unknown): value is Record<string, JsonValue> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Describes a value for error messages: "`x` (string)". Never prints more than 60 characters. */
export function describeValue(value: unknown): string {
  let text: string;
  try {
    text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  if (text.length > 60) text = `${text.slice(0, 57)}...`;
  const kind = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  return `\`${text}\` (${kind})`;
}
