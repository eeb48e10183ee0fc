export {
  PRIVATE_DIRECTORY_MODE,
  PRIVATE_FILE_MODE,
  preparePrivateDataDirectory,
  preparePrivateFiles,
} from './data-directory.ts';
export { DataDirectoryLock, LOCK_FILE_NAME } from './data-directory-lock.ts';
export { preflight } from './preflight.ts';
export { EXIT_CODES, type ExitCode, exitCodeFor, fixFor, StartupError } from './startup-error.ts';
