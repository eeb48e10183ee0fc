import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataDirectoryLock, LOCK_FILE_NAME } from './data-directory-lock.ts';
import { StartupError } from './startup-error.ts';

let directory: string;
beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'claw-lock-'));
});
afterEach(() => rmSync(directory, { recursive: true, force: true }));

function refusal(): StartupError {
  try {
    DataDirectoryLock.acquire(directory);
  } catch (error) {
    expect(error).toBeInstanceOf(StartupError);
    return error as StartupError;
  }
  throw new Error('expected the lock to be refused');
}

describe('DataDirectoryLock', () => {
  it('is held by one at a time, names the holder, and is free again once released', () => {
    const lock = DataDirectoryLock.acquire(directory);
    expect(statSync(lock.path).mode & 0o777).toBe(0o600);
    const error = refusal();
    expect(error.exitCode).toBe(75);
    expect(error.message).toContain(`pid ${process.pid}`);
    lock.release();
    DataDirectoryLock.acquire(directory).release();
  });

  it('takes over the lock of a process that is gone', () => {
    const gone = spawnSync(process.execPath, ['-e', '0']).pid;
    writeFileSync(
      join(directory, LOCK_FILE_NAME),
      JSON.stringify({ pid: gone, startTicks: '1', host: hostname(), startedAt: 'then' }),
    );
    const lock = DataDirectoryLock.acquire(directory);
    expect(JSON.parse(readFileSync(lock.path, 'utf8'))).toMatchObject({ pid: process.pid });
    lock.release();
  });

  it('takes over a lock whose pid now belongs to another process (started at another time)', () => {
    writeFileSync(
      join(directory, LOCK_FILE_NAME),
      JSON.stringify({ pid: process.pid, startTicks: '0', host: hostname(), startedAt: 'long ago' }),
    );
    DataDirectoryLock.acquire(directory).release();
  });

  it('leaves a lock of another host alone: it cannot tell from here whether that holder lives', () => {
    writeFileSync(
      join(directory, LOCK_FILE_NAME),
      JSON.stringify({ pid: 1, startTicks: null, host: `not-${hostname()}`, startedAt: 'now' }),
    );
    expect(refusal().message).toContain(`on not-${hostname()}`);
  });

  it('does not remove a lock that is no longer its own', () => {
    const lock = DataDirectoryLock.acquire(directory);
    writeFileSync(lock.path, '{"pid":1}');
    lock.release();
    expect(readFileSync(lock.path, 'utf8')).toBe('{"pid":1}');
  });
});
