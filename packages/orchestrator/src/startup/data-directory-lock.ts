import { closeSync, linkSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { EXIT_CODES, StartupError } from './startup-error.ts';

/** Who holds the lock: enough to tell a live holder from a crashed one, and to tell the user. */
interface LockOwner {
  pid: number;
  /** The process's start time in clock ticks since boot (/proc/<pid>/stat), so a reused pid is not mistaken for the holder. */
  startTicks: string | null;
  host: string;
  startedAt: string;
}

export const LOCK_FILE_NAME = 'orchestrator.lock';

/**
 * An exclusive lock on a data directory: `orchestrator.lock`, created with O_EXCL (atomic on a local
 * filesystem), holding the owner's pid, its start time and host. A lock whose process is gone (or
 * whose pid now belongs to another process) is stale and is taken over; breaking it renames it
 * aside first, so of two starts that find the same stale lock only one wins. Released on stop; a
 * crash leaves a stale lock that the next start takes over.
 *
 * Why not proper-lockfile: it decides staleness by mtime, refreshed by a timer, so an event loop
 * blocked past the stale time loses the lock while still running, and it writes every few seconds
 * for the life of the process. The data directory is local (a socket lives in it), where O_EXCL
 * and a pid check are exact. (flock(2) would be better still, but Node has no API for it without
 * a native addon.)
 */
export class DataDirectoryLock {
  readonly path: string;
  readonly #content: string;
  #released = false;

  private constructor(path: string, content: string) {
    this.path = path;
    this.#content = content;
  }

  /** Takes the lock or throws a StartupError (exit 75) naming the process that holds it. */
  static acquire(dataDirectory: string): DataDirectoryLock {
    const path = join(dataDirectory, LOCK_FILE_NAME);
    const owner: LockOwner = {
      pid: process.pid,
      startTicks: processStartTicks(process.pid),
      host: hostname(),
      startedAt: new Date().toISOString(),
    };
    const content = `${JSON.stringify(owner)}\n`;
    // Two attempts: the second after taking over a stale lock.
    for (let attempt = 0; attempt < 2; attempt++) {
      if (tryCreate(path, content)) return new DataDirectoryLock(path, content);
      let existing: string;
      try {
        existing = readFileSync(path, 'utf8');
      } catch {
        continue; // released between our attempt and the read
      }
      const holder = parseOwner(existing);
      if (holder && isAlive(holder)) throw heldBy(dataDirectory, path, holder);
      if (!takeOverStale(path, existing)) break;
    }
    throw new StartupError(
      'CONFIG_INVALID',
      EXIT_CODES.inUse,
      `Another orchestrator is starting on ${dataDirectory} right now.`,
      'Start one orchestrator per data directory; retry once the other has started or stopped.',
      { path },
    );
  }

  /** Removes the lock file if it is still ours. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    try {
      if (readFileSync(this.path, 'utf8') === this.#content) unlinkSync(this.path);
    } catch {
      // Already gone.
    }
  }

  [Symbol.dispose](): void {
    this.release();
  }
}

function tryCreate(path: string, content: string): boolean {
  let descriptor: number;
  try {
    descriptor = openSync(path, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    writeSync(descriptor, content);
  } finally {
    closeSync(descriptor);
  }
  return true;
}

/**
 * Moves a stale lock aside. If what was moved is no longer the stale lock we read (another start
 * took it over and created its own in between), that lock is put back and we give up.
 */
function takeOverStale(path: string, staleContent: string): boolean {
  const aside = `${path}.stale-${process.pid}`;
  try {
    renameSync(path, aside);
  } catch {
    return true; // someone else moved it; try to create ours
  }
  let moved = '';
  try {
    moved = readFileSync(aside, 'utf8');
  } catch {
    // unreadable: treat as not ours to judge
  }
  if (moved !== staleContent) {
    try {
      linkSync(aside, path);
    } catch {
      // A third start created one already; theirs stands.
    }
    unlinkSync(aside);
    return false;
  }
  unlinkSync(aside);
  return true;
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockOwner>;
    if (typeof value.pid === 'number' && Number.isInteger(value.pid) && value.pid > 0) return value as LockOwner;
  } catch {
    // A torn or foreign file: not a live holder.
  }
  return undefined;
}

function isAlive(owner: LockOwner): boolean {
  // A holder on another host (a shared volume) cannot be checked from here: assume it is alive.
  if (owner.host !== hostname()) return true;
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (owner.startTicks === null) return true;
  return processStartTicks(owner.pid) === owner.startTicks;
}

/** Field 22 of /proc/<pid>/stat; null where /proc is not there. */
function processStartTicks(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its closing one.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function heldBy(dataDirectory: string, path: string, holder: LockOwner): StartupError {
  return new StartupError(
    'CONFIG_INVALID',
    EXIT_CODES.inUse,
    `Another orchestrator (pid ${holder.pid} on ${holder.host}, started ${holder.startedAt}) is running on ${dataDirectory}.`,
    `Stop it first, or give this one its own CLAW_DATA_DIR. If no such process exists, delete ${path}.`,
    { path, pid: holder.pid },
  );
}
