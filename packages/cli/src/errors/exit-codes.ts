import type { ErrorCode } from '@clawfleet/protocol';

/**
 * What `claw` exits with. Scripts may rely on these numbers (docs/cli.md lists them); a number is
 * never reused for another meaning.
 */
export const EXIT_CODES = {
  /** The command did what was asked. */
  ok: 0,
  /** Something unexpected failed (a bug, or an error without a more precise class). */
  failure: 1,
  /** The command line is wrong: unknown command or option, a bad or missing argument. */
  usage: 2,
  /** The orchestrator is not running or could not be reached (no socket, refused, went away). */
  notRunning: 3,
  /** The orchestrator refused the CLI's identity: wrong or missing token. */
  authentication: 4,
  /** What the command names does not exist: an unknown agent, task, attention request, plan. */
  notFound: 5,
  /** The request was understood and refused: writing SQL, a reducer's rule, not allowed. */
  refused: 6,
  /** A wait ran out (`--wait`, `claw down`, `claw up --detach`). */
  timeout: 7,
  /** `claw doctor` found at least one failing check. */
  checkFailed: 8,
  /** `claw replay` ran every call, and at least one output differs from the recorded one. */
  diverged: 9,
  /** Interrupted by Ctrl-C (128 + SIGINT). */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];

/** The exit code for an error that ended a command, by its stable code. */
export function exitCodeFor(code: ErrorCode): ExitCode {
  switch (code) {
    case 'INVALID_PARAMS':
    case 'CONFIG_INVALID':
    case 'SUBSCRIPTION_INVALID':
    case 'IMPORT_INVALID':
      return EXIT_CODES.usage;
    case 'CONNECT_FAILED':
    case 'CONNECTION_CLOSED':
    case 'PEER_UNRESPONSIVE':
    case 'SHUTTING_DOWN':
    case 'SOCKET_PATH_INVALID':
    case 'HANDSHAKE_TIMEOUT':
      return EXIT_CODES.notRunning;
    case 'AUTH_FAILED':
      return EXIT_CODES.authentication;
    case 'NOT_FOUND':
    case 'UNKNOWN_REDUCER':
      return EXIT_CODES.notFound;
    case 'FORBIDDEN':
    case 'REDUCER_REJECTED':
    case 'CONFLICT':
    case 'MODEL_MISMATCH':
    case 'NOT_RETAINED':
      return EXIT_CODES.refused;
    case 'TIMEOUT':
      return EXIT_CODES.timeout;
    case 'CANCELLED':
      return EXIT_CODES.interrupted;
    default:
      return EXIT_CODES.failure;
  }
}

/**
 * Ends a command with a given exit code after it has printed what it had to say (e.g. `claw up`
 * passing on the orchestrator's own exit code). main prints nothing more for it.
 */
export class CommandExit extends Error {
  readonly exitCode: number;

  constructor(exitCode: number) {
    super(`exit ${exitCode}`);
    this.name = 'CommandExit';
    this.exitCode = exitCode;
  }
}
