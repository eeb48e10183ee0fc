export { EXIT_CODES, type ExitCode, exitCodeFor } from './errors/exit-codes.ts';
export { createProgram } from './program.ts';
export { type CliSettings, resolveCliSettings } from './settings/cli-settings.ts';
