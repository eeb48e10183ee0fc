import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { IpcClient } from '@clawfleet/ipc';
import { BUS_METHODS, type BusQueryResult, isClawError } from '@clawfleet/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { identityForName } from '../index.ts';

const HOST = fileURLToPath(new URL('./embedded-bus-host.ts', import.meta.url));
const ADMIN_TOKEN = 'admin-token-durability';
const WRITER_TOKEN = 'writer-token-durability';
const WRITERS = ['Writer0', 'Writer1', 'Writer2', 'Writer3'];
const TOKENS = JSON.stringify(
  Object.fromEntries([['orchestrator', ADMIN_TOKEN], ...WRITERS.map((name) => [name, WRITER_TOKEN])]),
);

interface RunningHost {
  child: ChildProcess;
  exited: Promise<NodeJS.Signals | number | null>;
}

/** Starts the host bin as a child process and resolves once it printed its ready line. */
async function startHost(databasePath: string, socketPath: string): Promise<RunningHost> {
  const child = spawn(process.execPath, ['--import', 'tsx', HOST, '--database', databasePath, '--socket', socketPath], {
    env: { ...process.env, CLAW_BUS_TOKENS: TOKENS },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => {
    child.once('exit', (code, signal) => resolve(signal ?? code));
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`host not ready in 30 s; stderr: ${stderr}`)), 30_000);
    lines.on('line', (line) => {
      if (line.includes('"ready"')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((status) => {
      clearTimeout(timer);
      reject(new Error(`host exited (${String(status)}) before ready; stderr: ${stderr}`));
    });
  });
  return { child, exited };
}

const connect = (socketPath: string, agent: string, token: string) =>
  IpcClient.connect({ socketPath, agent, token, reconnect: false, requestTimeoutMs: 10_000 });

async function rows(client: IpcClient, query: string): Promise<Record<string, unknown>[]> {
  const result = (await client.request(BUS_METHODS.query, { query })) as BusQueryResult;
  return result.rows;
}

describe('embedded bus host durability', () => {
  const directory = mkdtempSync(join(tmpdir(), 'claw-durability-'));
  const databasePath = join(directory, 'bus.sqlite');
  const socketPath = join(directory, 'bus.sock');
  const hosts: RunningHost[] = [];

  afterAll(() => {
    for (const host of hosts)
      if (host.child.exitCode === null && host.child.signalCode === null) host.child.kill('SIGKILL');
    rmSync(directory, { recursive: true, force: true });
  });

  it('keeps every acknowledged reducer call across SIGKILL, and no reducer half-applied', async () => {
    const first = await startHost(databasePath, socketPath);
    hosts.push(first);
    const admin = await connect(socketPath, 'orchestrator', ADMIN_TOKEN);
    for (const name of WRITERS) {
      await admin.request(BUS_METHODS.call, {
        reducer: 'register_agent',
        args: { name, identity: identityForName(name), role: 'writer' },
      });
    }
    await admin.request(BUS_METHODS.call, {
      reducer: 'create_task',
      args: { title: 'base', description: '', priority: 1, depends_on: [], stimulus_id: null, reserved_for: null },
    });
    const [base] = await rows(admin, "SELECT * FROM task WHERE title = 'base'");
    const baseId = base?.id;
    await admin.close();

    // Each call writes two rows in one transaction: the task and its dependency on `base`.
    const acknowledged = new Set<string>();
    const writers = WRITERS.map(async (name) => {
      const client = await connect(socketPath, name, WRITER_TOKEN);
      for (let index = 0; ; index++) {
        const title = `${name}-${index}`;
        try {
          await client.request(BUS_METHODS.call, {
            reducer: 'create_task',
            args: { title, description: '', priority: 2, depends_on: [baseId], stimulus_id: null, reserved_for: null },
          });
          acknowledged.add(title);
        } catch (error) {
          // Only the kill may stop a writer; an unacknowledged call may or may not have committed.
          if (!isClawError(error, 'CONNECTION_CLOSED') && !isClawError(error, 'TIMEOUT')) throw error;
          break;
        }
      }
      await client.close();
    });

    while (acknowledged.size < 400) await new Promise((resolve) => setTimeout(resolve, 5));
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    await Promise.all(writers);
    const acknowledgedAtKill = acknowledged.size;
    expect(acknowledgedAtKill).toBeGreaterThanOrEqual(400);

    const second = await startHost(databasePath, socketPath);
    hosts.push(second);
    const reader = await connect(socketPath, 'orchestrator', ADMIN_TOKEN);
    const tasks = await rows(reader, 'SELECT * FROM task');
    const dependencies = await rows(reader, 'SELECT * FROM task_dependency');
    const titles = new Set(tasks.map((task) => String(task.title)));
    const missing = [...acknowledged].filter((title) => !titles.has(title));
    expect(missing).toEqual([]);

    // Both rows of every create_task or neither: each writer task has exactly one dependency row, and
    // every dependency row belongs to a task that exists.
    const taskIds = new Set(tasks.map((task) => String(task.id)));
    const dependencyCount = new Map<string, number>();
    for (const dependency of dependencies) {
      expect(taskIds.has(String(dependency.task_id))).toBe(true);
      expect(String(dependency.depends_on_task_id)).toBe(String(baseId));
      dependencyCount.set(String(dependency.task_id), (dependencyCount.get(String(dependency.task_id)) ?? 0) + 1);
    }
    for (const task of tasks) {
      if (task.title === 'base') continue;
      expect(dependencyCount.get(String(task.id)), String(task.title)).toBe(1);
    }
    // At most one call per writer was in flight at the kill: committed but unacknowledged.
    expect(tasks.length - 1 - acknowledged.size).toBeLessThanOrEqual(WRITERS.length);

    // The restarted host takes new writes.
    await reader.request(BUS_METHODS.call, {
      reducer: 'create_task',
      args: {
        title: 'after-restart',
        description: '',
        priority: 1,
        depends_on: [],
        stimulus_id: null,
        reserved_for: null,
      },
    });
    expect(await rows(reader, "SELECT * FROM task WHERE title = 'after-restart'")).toHaveLength(1);
    await reader.close();
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });
});
