import { mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { CliSettings } from '../settings/cli-settings.ts';

/** Creates the data and log folders owner-only (the orchestrator refuses a data folder others can read). */
export function prepareLogFile(settings: CliSettings): number {
  mkdirSync(settings.dataDirectory, { recursive: true, mode: 0o700 });
  mkdirSync(dirname(settings.logPath), { recursive: true, mode: 0o700 });
  return openSync(settings.logPath, 'a', 0o600);
}

export function writePidFile(settings: CliSettings, pid: number): void {
  writeFileSync(settings.pidPath, `${pid}\n`, { mode: 0o600 });
}

/** The pid recorded by `claw up --detach`, if the file exists and names a live process. */
export function readLivePid(settings: CliSettings): number | undefined {
  let text: string;
  try {
    text = readFileSync(settings.pidPath, 'utf8').trim();
  } catch {
    return undefined;
  }
  const pid = Number(text);
  if (!Number.isSafeInteger(pid) || pid < 1) return undefined;
  return isAlive(pid) ? pid : undefined;
}

export function removePidFile(settings: CliSettings): void {
  rmSync(settings.pidPath, { force: true });
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
