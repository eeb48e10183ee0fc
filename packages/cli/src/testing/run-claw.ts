import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The repository root and the real `claw` executable, as `npx claw` runs it. */
export const repositoryRoot = resolve(import.meta.dirname, '../../../..');
export const clawBin = join(repositoryRoot, 'packages/cli/bin/claw.js');

export interface ClawResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A small, fast fleet on the generated tiny model, whatever the machine's environment says. */
export const TINY_FLEET_ENVIRONMENT = {
  CLAW_CONFIG: '',
  CLAW_DATA_DIR: '',
  CLAW_SOCKET: '',
  CLAW_RUNTIME: '',
  CLAW_MODEL_PATH: '',
  CLAW_SLOTS: '2',
  CLAW_CONTEXT_SIZE: '512',
  CLAW_THREADS: '1',
  // The CLI against the orchestrator alone; the supervised agents have their own test (test/agents.int.test.ts).
  CLAW_START_AGENTS: 'false',
};

/** Every child these helpers started that has not exited yet, so a test can end them whatever happened. */
const spawned = new Set<ChildProcess>();

function track<T extends ChildProcess>(child: T): T {
  spawned.add(child);
  child.once('exit', () => spawned.delete(child));
  return child;
}

/** SIGKILLs every child these helpers started that is still running, and waits for each to be gone. */
export async function killSpawned(): Promise<void> {
  await Promise.all([...spawned].map((child) => stopProcess(child, 'SIGKILL')));
}

/**
 * Stops the orchestrator running on a data directory, by pid (never by name): the pid its lock file
 * (`orchestrator.lock`, written in the foreground and detached alike) or `claw up --detach`'s pid
 * file names. SIGTERM first, so it stops its agents, then SIGKILL if it is still there after `graceMs`.
 */
export async function stopOrchestratorOf(dataDirectory: string, graceMs = 15_000): Promise<void> {
  const pids = new Set<number>();
  const lockFile = join(dataDirectory, 'orchestrator.lock');
  if (existsSync(lockFile)) {
    try {
      pids.add(Number((JSON.parse(readFileSync(lockFile, 'utf8')) as { pid?: unknown }).pid));
    } catch {
      // A lock file cut short: the pid file may still say.
    }
  }
  const pidFile = join(dataDirectory, 'orchestrator.pid');
  if (existsSync(pidFile)) pids.add(Number(readFileSync(pidFile, 'utf8')));
  for (const pid of pids) {
    if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid || !alive(pid)) continue;
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (alive(pid) && Date.now() < deadline) await new Promise((resolveWait) => setTimeout(resolveWait, 50));
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Starts `claw` as a child process, without a terminal (so no colour). */
export function spawnClaw(args: readonly string[], environment: NodeJS.ProcessEnv = {}): ChildProcess {
  return track(
    spawn(process.execPath, [clawBin, ...args], {
      cwd: repositoryRoot,
      env: { ...process.env, ...TINY_FLEET_ENVIRONMENT, ...environment },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
}

/** Runs `claw` as a child process and collects what it printed. */
export function runClaw(args: readonly string[], environment: NodeJS.ProcessEnv = {}): Promise<ClawResult> {
  const child = spawnClaw(args, environment);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolveResult, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolveResult({ code, stdout, stderr }));
  });
}

/**
 * Starts the real orchestrator entry (`packages/orchestrator/src/main.ts`, spawned by path, as
 * `claw up` does) on a data directory with the generated tiny model; resolves once it is ready.
 */
export function startOrchestrator(dataDirectory: string): Promise<{ process: ChildProcess; output: () => string }> {
  const child = track(
    spawn(process.execPath, ['--import', 'tsx', join(repositoryRoot, 'packages/orchestrator/src/main.ts')], {
      cwd: repositoryRoot,
      env: { ...process.env, ...TINY_FLEET_ENVIRONMENT, CLAW_DATA_DIR: dataDirectory, CLAW_LOG_FORMAT: 'json' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let output = '';
  return new Promise((resolveReady, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes('"msg":"ready')) resolveReady({ process: child, output: () => output });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`orchestrator exited with ${code}:\n${output}`)));
  });
}

/** Stops a child and waits for it to be gone. */
export async function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolveExit) => child.once('exit', resolveExit));
  child.kill(signal);
  await exited;
}
