import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A socket path in a fresh temp folder, and a cleanup that removes the folder. */
export function tempSocketPath(name = 'ipc.sock'): { socketPath: string; directory: string; cleanup: () => void } {
  const directory = mkdtempSync(join(tmpdir(), 'claw-'));
  return {
    socketPath: join(directory, name),
    directory,
    cleanup: () => rmSync(directory, { recursive: true, force: true }),
  };
}
