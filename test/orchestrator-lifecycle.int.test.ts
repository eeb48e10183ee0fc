import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { EmbeddedBusClient } from '@clawfleet/bus-client';
import { EmbeddedDatabase } from '@clawfleet/embedded-bus';
import { InferenceClient } from '@clawfleet/inference-client';
import { IpcClient } from '@clawfleet/ipc';
import { writeTinyModel } from '@clawfleet/tiny-model';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

/**
 * Start and stop of the orchestrator through the real process (`main.ts`, and `npm start`, which is
 * `claw up`): each start-up failure is one line naming
 * the problem and the fix with its documented exit code (docs/configuration.md), a second start on
 * the same data directory leaves the first untouched, files are private, and SIGTERM to `npm start`
 * stops the whole tree.
 */
const root = resolve(import.meta.dirname, '..');
const MAIN = join(root, 'packages/orchestrator/src/main.ts');
let scratch: string;
let modelPath: string;
const running: ChildProcess[] = [];

interface Outcome {
  code: number | null;
  stderr: string;
  stdout: string;
}

function baseEnvironment(dataDirectory: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const environment: NodeJS.ProcessEnv = {
    ...process.env,
    CLAW_DATA_DIR: dataDirectory,
    CLAW_LOG_FORMAT: 'json',
    CLAW_SLOTS: '1',
    CLAW_CONTEXT_SIZE: '256',
    CLAW_MODEL_PATH: modelPath,
    // Start-up and shutdown of the orchestrator itself; supervised agents: test/agents.int.test.ts.
    CLAW_START_AGENTS: 'false',
    ...extra,
  };
  // A CLAW_* setting of the shell running the tests must not change what is tested.
  for (const key of Object.keys(environment))
    if (
      key.startsWith('CLAW_') &&
      !(key in extra) &&
      ![
        'CLAW_DATA_DIR',
        'CLAW_LOG_FORMAT',
        'CLAW_SLOTS',
        'CLAW_CONTEXT_SIZE',
        'CLAW_MODEL_PATH',
        'CLAW_START_AGENTS',
      ].includes(key)
    )
      delete environment[key];
  return environment;
}

function runToExit(environment: NodeJS.ProcessEnv): Promise<Outcome> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], { cwd: root, env: environment });
  running.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
  return new Promise((resolveExit) => child.once('exit', (code) => resolveExit({ code, stdout, stderr })));
}

/** Starts a process and resolves once the orchestrator logs that it is ready. */
function startUntilReady(command: string, args: string[], environment: NodeJS.ProcessEnv, detached = false) {
  const child = spawn(command, args, { cwd: root, env: environment, detached });
  running.push(child);
  let output = '';
  const exited = new Promise<number | null>((resolveExit) => child.once('exit', (code) => resolveExit(code)));
  const ready = new Promise<void>((resolveReady, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes('"msg":"ready')) resolveReady();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => reject(new Error(`exited with ${code} before ready:\n${output}`)));
  });
  return { child, ready, exited, output: () => output };
}

function expectOneClearLine(outcome: Outcome, exitCode: number, problem: RegExp): void {
  expect(outcome.code, outcome.stderr + outcome.stdout).toBe(exitCode);
  const lines = outcome.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(problem);
  expect(lines[0]).toMatch(/Fix: /);
  expect(outcome.stderr + outcome.stdout).not.toMatch(/FATAL|"level":60|\n\s+at /);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'claw-life-'));
  modelPath = join(scratch, 'tiny.gguf');
  await writeTinyModel(modelPath);
});

afterEach(async () => {
  for (const child of running.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolveExit) => child.once('exit', resolveExit));
      // A detached child leads its own process group: kill the group, else the child.
      try {
        if (child.pid === undefined) throw new Error('no pid');
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
      await exited;
    }
  }
  // An orchestrator that outlived what started it (npm start killed above) is found by its lock file.
  for (const entry of readdirSync(scratch, { withFileTypes: true })) {
    const lockFile = join(scratch, entry.name, 'orchestrator.lock');
    if (!entry.isDirectory() || !existsSync(lockFile)) continue;
    let pid = 0;
    try {
      pid = Number((JSON.parse(readFileSync(lockFile, 'utf8')) as { pid?: unknown }).pid);
    } catch {
      continue;
    }
    if (Number.isInteger(pid) && pid > 1 && pid !== process.pid && isAlive(pid)) process.kill(pid, 'SIGKILL');
  }
});

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('start-up failures: one line, the fix, a documented exit code, before the worker starts', () => {
  it('a model file that does not exist: 66', async () => {
    const outcome = await runToExit(
      baseEnvironment(join(scratch, 'd1'), { CLAW_MODEL_PATH: join(scratch, 'nope.gguf') }),
    );
    expectOneClearLine(outcome, 66, /nope\.gguf does not exist/);
  });

  it('a file that is not GGUF: 65', async () => {
    const notModel = join(scratch, 'notes.gguf');
    writeFileSync(notModel, 'these are my notes, not a model\n'.repeat(10));
    const outcome = await runToExit(baseEnvironment(join(scratch, 'd2'), { CLAW_MODEL_PATH: notModel }));
    expectOneClearLine(outcome, 65, /notes\.gguf is not a valid GGUF file/);
  });

  it('a model cut inside its tensor data: 65, found before the worker starts', async () => {
    const cut = join(scratch, 'cut-data.gguf');
    const bytes = readFileSync(modelPath);
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.7)));
    const outcome = await runToExit(baseEnvironment(join(scratch, 'd3b'), { CLAW_MODEL_PATH: cut }));
    expectOneClearLine(outcome, 65, /cut-data\.gguf is truncated: it is \d+ bytes, its \d+ tensors need \d+/);
    expect(outcome.stdout).not.toMatch(/worker/);
  });

  it('a truncated model: 65', async () => {
    const cut = join(scratch, 'cut.gguf');
    writeFileSync(cut, readFileSync(modelPath));
    truncateSync(cut, 200);
    const outcome = await runToExit(baseEnvironment(join(scratch, 'd3'), { CLAW_MODEL_PATH: cut }));
    expectOneClearLine(outcome, 65, /cut\.gguf is truncated/);
  });

  it('a data directory that is a file: 73', async () => {
    const file = join(scratch, 'a-file');
    writeFileSync(file, 'x');
    const outcome = await runToExit(baseEnvironment(file));
    expectOneClearLine(outcome, 73, /Data directory .*a-file/);
  });

  it('a data directory that cannot be created: 73', async () => {
    const file = join(scratch, 'b-file');
    writeFileSync(file, 'x');
    const outcome = await runToExit(baseEnvironment(join(file, 'inside')));
    expectOneClearLine(outcome, 73, /Data directory .*cannot be created/);
  });

  it('a socket path too long for a Unix socket: 78', async () => {
    const outcome = await runToExit(
      baseEnvironment(join(scratch, 'd4'), { CLAW_SOCKET: join(scratch, 's'.repeat(120), 'o.sock') }),
    );
    expectOneClearLine(outcome, 78, /Socket path is \d+ bytes/);
  });

  it.skipIf(readdirSync('/dev').some((name) => /^nvidia\d+$/.test(name)))(
    'CLAW_GPU=cuda where there is no CUDA device: 69, saying so',
    async () => {
      const outcome = await runToExit(baseEnvironment(join(scratch, 'd5'), { CLAW_GPU: 'cuda' }));
      expectOneClearLine(outcome, 69, /no CUDA device was found/);
    },
  );

  it('a memory budget smaller than the model: 78', async () => {
    const outcome = await runToExit(baseEnvironment(join(scratch, 'd6'), { CLAW_MEMORY_BUDGET_MB: '0.1' }));
    expectOneClearLine(outcome, 78, /Memory budget 0\.1 MiB is smaller than model `default`/);
  });

  it('a value that is not valid: 78', async () => {
    const outcome = await runToExit(baseEnvironment(join(scratch, 'd7'), { CLAW_SLOTS: '-5' }));
    expectOneClearLine(outcome, 78, /`models\.0\.slots`.*got `-5` \(number\)/);
  });

  it('a database this version cannot upgrade in place: 65, and the file is left as it was', async () => {
    const dataDirectory = join(scratch, 'd8');
    mkdirSync(dataDirectory, { mode: 0o700 });
    const databasePath = join(dataDirectory, 'bus.sqlite');
    // Made by "another version": today's schema with a column this one does not have, no fingerprint.
    EmbeddedDatabase.open({ path: databasePath }).close();
    const raw = new Database(databasePath);
    raw.exec(`ALTER TABLE agent ADD COLUMN nickname TEXT; DELETE FROM __clawfleet_meta WHERE key LIKE 'schema%'`);
    raw.close();
    const before = createHash('sha256').update(readFileSync(databasePath)).digest('hex');
    const outcome = await runToExit(baseEnvironment(dataDirectory));
    expectOneClearLine(
      outcome,
      65,
      /bus\.sqlite was made by another version of Clawfleet.*agent\.nickname is in the file/,
    );
    expect(outcome.stderr).toContain(`mv ${dataDirectory} ${dataDirectory}.old`);
    expect(createHash('sha256').update(readFileSync(databasePath)).digest('hex')).toBe(before);
    // No lock left behind, and no write-ahead log holding a change.
    expect(readdirSync(dataDirectory).sort()).toEqual(['bus.sqlite', 'models', 'run', 'tokens.json']);
  });
});

describe('a running orchestrator', () => {
  it('keeps every file private, fixes a data directory others could read, and refuses a second start without touching the first', async () => {
    const dataDirectory = join(scratch, 'live');
    mkdirSync(dataDirectory, { mode: 0o755 });
    chmodSync(dataDirectory, 0o755);
    const first = startUntilReady(
      process.execPath,
      ['--import', 'tsx', MAIN],
      baseEnvironment(dataDirectory, { CLAW_MODEL_PATH: 'generated' }),
    );
    await first.ready;

    const modes: Record<string, number> = {};
    const walk = (path: string, name: string): void => {
      const stats = statSync(path);
      modes[name] = stats.mode & 0o777;
      if (stats.isDirectory()) for (const entry of readdirSync(path)) walk(join(path, entry), `${name}/${entry}`);
    };
    walk(dataDirectory, '.');
    expect(modes['.']).toBe(0o700);
    for (const name of [
      './bus.sqlite',
      './bus.sqlite-wal',
      './bus.sqlite-shm',
      './tokens.json',
      './run/orchestrator.sock',
      './orchestrator.lock',
    ]) {
      expect({ name, mode: modes[name] }).toEqual({ name, mode: 0o600 });
    }
    expect(modes['./models']).toBe(0o700);
    expect(modes['./run']).toBe(0o700);
    // Everything else in it too, whatever it is called.
    for (const [name, mode] of Object.entries(modes))
      expect({ name, others: mode & 0o077 }).toEqual({ name, others: 0 });
    expect(first.output()).toMatch(/narrowed it to the owner only/);

    const tokens = JSON.parse(readFileSync(join(dataDirectory, 'tokens.json'), 'utf8')) as Record<string, string>;
    const socketPath = join(dataDirectory, 'run', 'orchestrator.sock');
    const agent = await EmbeddedBusClient.connect({ socketPath, name: 'DevClaw', token: tokens.DevClaw! });
    const watcher = await EmbeddedBusClient.connect({ socketPath, name: 'LeadClaw', token: tokens.LeadClaw! });
    try {
      const changes: unknown[] = [];
      const agents = watcher.subscribe(['SELECT * FROM agent'], {
        onInsert: (row) => changes.push({ insert: row }),
        onUpdate: (before, after) => changes.push({ before, after }),
        onDelete: (row) => changes.push({ delete: row }),
      });
      await agents.ready;
      changes.length = 0;
      const online = () => watcher.rows('agent').find((row) => row.name === 'DevClaw');
      expect(online()).toMatchObject({ online: true });

      const second = await runToExit(baseEnvironment(dataDirectory, { CLAW_MODEL_PATH: 'generated' }));
      expectOneClearLine(second, 75, new RegExp(`Another orchestrator \\(pid ${first.child.pid}`));

      // A round trip after the second start ended: any event it caused would have arrived first.
      await watcher.callReducer('create_task', {
        title: 'after',
        description: '',
        priority: 1,
        depends_on: [],
        stimulus_id: null,
      });
      expect(changes).toEqual([]);
      expect(online()).toMatchObject({ online: true, connections: 1 });
    } finally {
      await agent.dispose();
      await watcher.dispose();
    }
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(existsSync(join(dataDirectory, 'orchestrator.lock'))).toBe(false);
  });

  it('drains on Ctrl-C: the terminal signals the whole foreground group of `npm start`, and a running generation finishes', async () => {
    const dataDirectory = join(scratch, 'ctrl-c');
    // Its own process group, as a terminal's foreground job is.
    const npm = startUntilReady(
      'npm',
      ['start', '--silent'],
      baseEnvironment(dataDirectory, { CLAW_MODEL_PATH: 'generated' }),
      true,
    );
    await npm.ready;
    const group = npm.child.pid!;
    const tokens = JSON.parse(readFileSync(join(dataDirectory, 'tokens.json'), 'utf8')) as Record<string, string>;
    const ipc = await IpcClient.connect({
      socketPath: join(dataDirectory, 'run', 'orchestrator.sock'),
      agent: 'LeadClaw',
      token: tokens.LeadClaw!,
      reconnect: false,
      requestTimeoutMs: 60_000,
    });
    try {
      let signalled = false;
      const result = await new InferenceClient(ipc).generate('Write a long story.', {
        maxTokens: 200,
        onDelta: () => {
          if (signalled) return;
          signalled = true;
          process.kill(-group, 'SIGINT');
        },
      });
      expect(signalled).toBe(true);
      expect(result.tokensOut).toBeGreaterThan(0);
    } finally {
      await ipc.close();
    }
    expect(await npm.exited).toBe(0);
    expect(npm.output()).not.toMatch(/WORKER_CRASHED|restart/i);
    expect(() => process.kill(-group, 0)).toThrow();
  });

  it('is `claw up`: prints where everything is, keeps the log `claw logs` reads, and refuses a second start', async () => {
    const dataDirectory = join(scratch, 'npm-up');
    const npm = startUntilReady(
      'npm',
      ['start', '--silent'],
      baseEnvironment(dataDirectory, { CLAW_MODEL_PATH: 'generated' }),
    );
    await npm.ready;
    // The summary comes after the ready line, in several writes; its last line starts with `Next:`.
    for (let waited = 0; !/Clawfleet is up[\s\S]*\nNext:/.test(npm.output()) && waited < 30_000; waited += 50)
      await new Promise((resolveWait) => setTimeout(resolveWait, 50));
    expect(npm.output()).toMatch(/Clawfleet is up \(orchestrator pid \d+\)/);
    expect(npm.output()).toContain(`socket   ${join(dataDirectory, 'run', 'orchestrator.sock')}`);
    expect(npm.output()).toContain(`logs     ${join(dataDirectory, 'logs', 'orchestrator.log')}`);
    expect(readFileSync(join(dataDirectory, 'logs', 'orchestrator.log'), 'utf8')).toContain('"msg":"ready');

    // claw up's own check, before any orchestrator is started: one line naming the running one.
    const second = startUntilReady('npm', ['start', '--silent'], baseEnvironment(dataDirectory));
    second.ready.catch(() => {}); // it never gets ready; its exit is what is checked
    expect(await second.exited).not.toBe(0);
    expect(second.output()).toMatch(/^claw: The orchestrator is already running \(pid \d+,/m);

    npm.child.kill('SIGTERM');
    expect(await npm.exited).toBe(0);
    expect(readFileSync(join(dataDirectory, 'logs', 'orchestrator.log'), 'utf8')).toContain('"msg":"stopped"');
  });

  it('stops the whole tree, drained, when SIGTERM is sent to `npm start`', async () => {
    const dataDirectory = join(scratch, 'npm');
    const npm = startUntilReady(
      'npm',
      ['start', '--silent'],
      baseEnvironment(dataDirectory, { CLAW_MODEL_PATH: 'generated' }),
    );
    await npm.ready;
    const lock = JSON.parse(readFileSync(join(dataDirectory, 'orchestrator.lock'), 'utf8')) as { pid: number };
    expect(lock.pid).not.toBe(npm.child.pid);
    expect(isAlive(lock.pid)).toBe(true);

    npm.child.kill('SIGTERM');
    expect(await npm.exited).toBe(0);
    expect(isAlive(lock.pid)).toBe(false);
    expect(npm.output()).toMatch(/"msg":"stopped"/);
    expect(existsSync(join(dataDirectory, 'run', 'orchestrator.sock'))).toBe(false);
    expect(existsSync(join(dataDirectory, 'orchestrator.lock'))).toBe(false);
  });
});
