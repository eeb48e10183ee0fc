import { chmodSync, closeSync, lstatSync, mkdirSync, openSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import { EXIT_CODES, StartupError } from './startup-error.ts';

/** Mode of every folder the orchestrator writes: the owner only. */
export const PRIVATE_DIRECTORY_MODE = 0o700;
/** Mode of every file the orchestrator writes: the owner only. */
export const PRIVATE_FILE_MODE = 0o600;

export interface DataDirectoryLayout {
  dataDirectory: string;
  databasePath: string;
  generatedModelsDirectory: string;
}

/**
 * Makes the data directory private before anything is written into it: creates it 0700, or
 * narrows an existing one that group or others can read to 0700 (returned so it can be logged).
 * A data directory that is a file, or belongs to another user, is refused.
 */
export function preparePrivateDataDirectory(dataDirectory: string): { narrowed: string[] } {
  const narrowed: string[] = [];
  try {
    mkdirSync(dataDirectory, { recursive: true, mode: PRIVATE_DIRECTORY_MODE });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new StartupError(
      'CONFIG_INVALID',
      EXIT_CODES.cannotCreate,
      code === 'EEXIST' || code === 'ENOTDIR'
        ? `Data directory ${dataDirectory} cannot be created: ${code === 'EEXIST' ? 'a file' : 'a file in its path'} is in the way.`
        : `Data directory ${dataDirectory} cannot be created: ${(error as Error).message}.`,
      'Set CLAW_DATA_DIR (or `dataDirectory`) to a folder you can write, or remove what is in the way.',
      { path: dataDirectory },
    );
  }
  const stats = lstatSync(dataDirectory);
  if (!stats.isDirectory()) {
    throw new StartupError(
      'CONFIG_INVALID',
      EXIT_CODES.cannotCreate,
      `Data directory ${dataDirectory} is not a directory.`,
      'Set CLAW_DATA_DIR (or `dataDirectory`) to a folder, or move the file away.',
      { path: dataDirectory },
    );
  }
  const uid = process.getuid?.();
  if (uid !== undefined && stats.uid !== uid) {
    throw new StartupError(
      'CONFIG_INVALID',
      EXIT_CODES.cannotCreate,
      `Data directory ${dataDirectory} belongs to user ${stats.uid}, not to you (${uid}).`,
      `Run as its owner, or \`chown -R ${uid} ${dataDirectory}\`.`,
      { path: dataDirectory },
    );
  }
  narrowIfWider(dataDirectory, stats, PRIVATE_DIRECTORY_MODE, narrowed);
  return { narrowed };
}

/**
 * Creates the models folder 0700 and the database file 0600 (before SQLite opens it; SQLite gives
 * its `-wal` and `-shm` files the database file's mode), narrowing existing ones. Runs under the
 * data directory lock.
 */
export function preparePrivateFiles(layout: DataDirectoryLayout): { narrowed: string[] } {
  const narrowed: string[] = [];
  for (const folder of [layout.generatedModelsDirectory, dirname(layout.databasePath)]) {
    mkdirSync(folder, { recursive: true, mode: PRIVATE_DIRECTORY_MODE });
    narrowIfWider(folder, lstatSync(folder), PRIVATE_DIRECTORY_MODE, narrowed);
  }
  closeSync(openSync(layout.databasePath, 'a', PRIVATE_FILE_MODE));
  for (const path of [layout.databasePath, `${layout.databasePath}-wal`, `${layout.databasePath}-shm`]) {
    let fileStats: Stats;
    try {
      fileStats = lstatSync(path);
    } catch {
      continue;
    }
    if (fileStats.isFile()) narrowIfWider(path, fileStats, PRIVATE_FILE_MODE, narrowed);
  }
  return { narrowed };
}

function narrowIfWider(path: string, stats: Stats, mode: number, narrowed: string[]): void {
  if ((stats.mode & 0o077) === 0) return;
  chmodSync(path, mode);
  narrowed.push(`${path} (was ${(stats.mode & 0o777).toString(8).padStart(4, '0')})`);
}
