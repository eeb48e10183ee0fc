import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ensureTinyModel } from '@clawfleet/tiny-model';
import { afterEach, describe, expect, it } from 'vitest';

const FIXTURE = fileURLToPath(new URL('../../testing/worker-under-signals.ts', import.meta.url));
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

const started: ChildProcess[] = [];
afterEach(() => {
  for (const child of started.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

/** Starts the fixture in its own process group, as a shell starts a foreground job. */
async function startParent(): Promise<{ parent: ChildProcess; workerPid: number; output: () => string }> {
  const modelPath = await ensureTinyModel(join(tmpdir(), 'clawfleet-test-models'));
  const parent = spawn(process.execPath, ['--import', TSX, FIXTURE, modelPath], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(parent);
  let output = '';
  parent.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  const workerPid = await new Promise<number>((resolve, reject) => {
    parent.stdout?.on('data', () => {
      const match = /generating (\d+)/.exec(output);
      if (match !== null) resolve(Number(match[1]));
    });
    parent.once('exit', (code) => reject(new Error(`the fixture exited early (${code}): ${output}`)));
  });
  return { parent, workerPid, output: () => output };
}

function processGroupOf(pid: number): number {
  // /proc/<pid>/stat: "pid (comm) state ppid pgrp ..."; comm may hold spaces, so split after ')'.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('the inference worker and the signals of its parent', () => {
  it("keeps generating through Ctrl-C sent to the parent's process group, and is not restarted", async () => {
    const { parent, workerPid, output } = await startParent();
    expect(processGroupOf(workerPid)).not.toBe(processGroupOf(parent.pid as number));
    const exited = new Promise<number | null>((resolve) => parent.once('exit', resolve));
    // What a terminal does on Ctrl-C: SIGINT to every process of the foreground group.
    process.kill(-(parent.pid as number), 'SIGINT');
    expect(await exited).toBe(0);
    const outcome = JSON.parse(output().trim().split('\n').at(-1) as string);
    // Before the worker had its own group it died with the same SIGINT: WORKER_CRASHED.
    expect(outcome).toMatchObject({ signal: 'SIGINT', restarts: 0 });
    expect(outcome.error).toBeUndefined();
    expect(['eos', 'max-tokens']).toContain(outcome.stopReason);
    expect(outcome.tokensOut).toBeGreaterThan(0);
    expect(isRunning(workerPid)).toBe(false);
  });

  it('still ends with its parent when the parent is killed outright', async () => {
    const { parent, workerPid } = await startParent();
    process.kill(parent.pid as number, 'SIGKILL');
    // The worker exits when its IPC channel closes; allow it a generous moment on a busy machine.
    for (let attempt = 0; attempt < 300 && isRunning(workerPid); attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(isRunning(workerPid)).toBe(false);
  });
});
