import { ClawError } from '@clawfleet/protocol';

/**
 * Exit codes of `npm start`, one per class of start-up failure (from BSD sysexits.h, so service
 * managers and scripts can tell "fix the config" from "try again later"). Documented in
 * docs/configuration.md.
 */
export const EXIT_CODES = {
  /** Stopped cleanly. */
  ok: 0,
  /** A model file is not GGUF or is truncated; the database has a schema this version cannot upgrade (EX_DATAERR). */
  dataError: 65,
  /** A model file does not exist (EX_NOINPUT). */
  noInput: 66,
  /** A required device is missing: `gpu: cuda` and no CUDA device (EX_UNAVAILABLE). */
  unavailable: 69,
  /** An unexpected failure: a bug; the log has the stack (EX_SOFTWARE). */
  software: 70,
  /** The data directory cannot be created, is a file, or belongs to someone else (EX_CANTCREAT). */
  cannotCreate: 73,
  /** Another orchestrator holds the data directory or the socket (EX_TEMPFAIL). */
  inUse: 75,
  /** The configuration is wrong: a value, the socket path, the memory budget (EX_CONFIG). */
  config: 78,
  /** A second Ctrl-C or SIGTERM during the drain: stopped without waiting (128 + SIGINT). */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];

/**
 * A start-up failure the user can fix: one line saying what is wrong, one saying how to fix it,
 * and the exit code of its class. Printed without a stack trace.
 */
export class StartupError extends ClawError {
  readonly exitCode: ExitCode;
  readonly fix: string;

  constructor(
    code: ClawError['code'],
    exitCode: ExitCode,
    problem: string,
    fix: string,
    details: Record<string, unknown> = {},
  ) {
    super(code, problem, { details: { ...details, fix, exitCode } });
    this.exitCode = exitCode;
    this.fix = fix;
  }
}

/** The exit code for an error that stopped the start: the class of a StartupError, else by its code. */
export function exitCodeFor(error: ClawError): ExitCode {
  if (error instanceof StartupError) return error.exitCode;
  switch (error.code) {
    case 'CONFIG_INVALID':
    case 'SOCKET_PATH_INVALID':
    case 'MODEL_TOO_LARGE':
    case 'INSUFFICIENT_MEMORY':
      return EXIT_CODES.config;
    case 'MODEL_NOT_FOUND':
      return EXIT_CODES.noInput;
    case 'MODEL_INVALID':
    case 'SCHEMA_MISMATCH':
      return EXIT_CODES.dataError;
    case 'SOCKET_IN_USE':
      return EXIT_CODES.inUse;
    default:
      return EXIT_CODES.software;
  }
}

/** What to do about a failure found after the preflight (by the worker, or at the socket). */
export function fixFor(error: ClawError): string | undefined {
  if (error instanceof StartupError) return error.fix;
  switch (error.code) {
    case 'CONFIG_INVALID':
      return 'Correct it in the environment or the config file (docs/configuration.md).';
    case 'SOCKET_PATH_INVALID':
      return 'Set CLAW_SOCKET (or `socketPath`) to a path that is free or a stale socket.';
    case 'SOCKET_IN_USE':
      // The HTTP API's port (its error carries the port) or the IPC socket.
      return typeof error.details.port === 'number'
        ? 'Another program listens on that port: stop it, or set CLAW_HTTP_PORT (or `httpPort`) to another port, 0 for any free one.'
        : 'Another server answers on that socket: stop it, or set CLAW_SOCKET to another path.';
    case 'MODEL_NOT_FOUND':
    case 'MODEL_INVALID':
      return 'Point CLAW_MODEL_PATH (or `models[].path`) at a complete GGUF model llama.cpp supports.';
    case 'SCHEMA_MISMATCH':
      return typeof error.details.fix === 'string' ? error.details.fix : undefined;
    case 'MODEL_TOO_LARGE':
    case 'INSUFFICIENT_MEMORY':
      return 'Raise CLAW_MEMORY_BUDGET_MB (or `memoryBudgetBytes`), lower `contextSize` or `slots`, or use a smaller model.';
    default:
      return undefined;
  }
}
