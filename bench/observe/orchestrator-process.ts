/**
 * A real orchestrator in its own process for the observe benchmark (packages/orchestrator/src/main.ts
 * through tsx): its own data directory, the generated tiny model, one inference thread, the HTTP API
 * on a free port, agents not started (the benchmark connects as them). Clients in the benchmark process
 * then measure what a browser or Prometheus would see across a real socket.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export interface RunningOrchestrator {
  /** `http://127.0.0.1:<port>` */
  url: string;
  socketPath: string;
  /** Tokens by identity (`cli` is the HTTP admin token). */
  tokens: Readonly<Record<string, string>>;
  pid: number;
  stop(): Promise<void>;
}

export async function startOrchestratorProcess(
  environment: Readonly<Record<string, string>> = {},
): Promise<RunningOrchestrator> {
  const directory = mkdtempSync(join(tmpdir(), 'claw-bench-observe-'));
  const child: ChildProcess = spawn(
    process.execPath,
    // tsx by its URL: the process runs in its own folder, where `tsx` alone does not resolve.
    ['--import', import.meta.resolve('tsx'), join(root, 'packages/orchestrator/src/main.ts')],
    {
      cwd: directory,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        CLAW_DATA_DIR: join(directory, 'data'),
        CLAW_START_AGENTS: 'false',
        CLAW_HTTP_PORT: '0',
        CLAW_THREADS: '1',
        CLAW_SLOTS: '2',
        CLAW_CONTEXT_SIZE: '1024',
        CLAW_GPU: 'cpu',
        CLAW_LOG_FORMAT: 'json',
        CLAW_LOG_LEVEL: 'info',
        ...environment,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  const ready = await new Promise<{ url: string; socketPath: string }>((resolveReady, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the orchestrator did not start within 120 s:\n${output}`)),
      120_000,
    );
    const onData = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      for (const line of output.split('\n')) {
        if (!line.includes('"http":"http')) continue;
        const parsed = JSON.parse(line) as { http: string; socketPath: string };
        clearTimeout(timer);
        resolveReady({ url: parsed.http, socketPath: parsed.socketPath });
        return;
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the orchestrator exited with ${code}:\n${output}`));
    });
  });
  child.stdout?.resume();
  child.stderr?.resume();
  const tokens = JSON.parse(readFileSync(join(directory, 'data', 'tokens.json'), 'utf8')) as Record<string, string>;
  return {
    ...ready,
    tokens,
    pid: child.pid ?? 0,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolveExit) => child.once('exit', resolveExit));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
