import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EXIT_CODES } from './errors/exit-codes.ts';
import { isAlive } from './process/data-files.ts';
import { killSpawned, runClaw, spawnClaw, stopOrchestratorOf } from './testing/run-claw.ts';

/** `claw up` / `claw down` / `claw logs` with the real orchestrator on the generated tiny model. */
let dataDirectory: string;
const claw = (...args: string[]) => runClaw(['--data-dir', dataDirectory, ...args]);

beforeEach(() => {
  dataDirectory = mkdtempSync(join(tmpdir(), 'claw-up-'));
});

afterEach(async () => {
  // Whatever a failed test left running is stopped by pid, never by name: the orchestrator first
  // (SIGTERM, so it stops its agents; SIGKILL after a grace), then every `claw` this file spawned
  // (`claw up` in the foreground, `logs -f`), and only then is the data directory removed.
  try {
    await stopOrchestratorOf(dataDirectory);
  } finally {
    await killSpawned();
    rmSync(dataDirectory, { recursive: true, force: true });
  }
}, 60_000);

describe('claw up', () => {
  it('runs the orchestrator in the foreground, says where everything is, and stops it drained on Ctrl-C', async () => {
    const up = spawnClaw(['--data-dir', dataDirectory, 'up']);
    let stderr = '';
    let stdout = '';
    up.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    const exited = new Promise<number | null>((resolveExit) => up.once('exit', (code) => resolveExit(code)));
    await new Promise<void>((resolveReady, reject) => {
      up.stderr!.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        // The summary arrives in several writes; its last line starts with `Next:`.
        if (/Clawfleet is up[\s\S]*\nNext:/.test(stderr)) resolveReady();
      });
      up.once('exit', (code) => reject(new Error(`claw up exited with ${code}: ${stderr}`)));
    });
    expect(stderr).toContain(`socket   ${join(dataDirectory, 'run', 'orchestrator.sock')}`);
    expect(stderr).toMatch(/http {5}http:\/\/127\.0\.0\.1:\d+ \(token: "cli" in the tokens file\)/);
    expect(stderr).toContain(`logs     ${join(dataDirectory, 'logs', 'orchestrator.log')}`);

    const status = await claw('status', '--json');
    expect(status.code).toBe(EXIT_CODES.ok);
    const orchestratorPid = (JSON.parse(status.stdout) as { orchestrator: { pid: number } }).orchestrator.pid;
    expect(orchestratorPid).not.toBe(up.pid);

    up.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(isAlive(orchestratorPid)).toBe(false);
    expect(existsSync(join(dataDirectory, 'run', 'orchestrator.sock'))).toBe(false);
    // Without a terminal the JSON lines pass through; the log file keeps them too.
    expect(stdout).toContain('"msg":"stopped"');
    expect(readFileSync(join(dataDirectory, 'logs', 'orchestrator.log'), 'utf8')).toContain('"msg":"stopped"');
  });

  it('--detach runs it in the background; up again is refused, logs shows it, down stops it', async () => {
    const up = await claw('up', '--detach');
    expect(up.code).toBe(EXIT_CODES.ok);
    expect(up.stderr).toContain('Clawfleet is up');
    const pid = Number(readFileSync(join(dataDirectory, 'orchestrator.pid'), 'utf8'));
    expect(isAlive(pid)).toBe(true);

    const again = await claw('up', '--detach');
    expect(again.code).toBe(EXIT_CODES.refused);
    expect(again.stderr.trim()).toBe(
      `claw: The orchestrator is already running (pid ${pid}, socket ${join(dataDirectory, 'run', 'orchestrator.sock')}); \`claw down\` stops it`,
    );

    const logs = await claw('logs', '-n', '1');
    expect(logs.code).toBe(EXIT_CODES.ok);
    expect(JSON.parse(logs.stdout)).toMatchObject({ pid, msg: expect.stringMatching(/^ready/) });

    // `logs -f` prints the lines written while it follows, and ends cleanly on Ctrl-C.
    const follower = spawnClaw(['--data-dir', dataDirectory, 'logs', '-f', '-n', '0']);
    let followed = '';
    follower.stdout!.on('data', (chunk: Buffer) => {
      followed += chunk.toString();
    });
    const followerExited = new Promise<number | null>((resolveExit) =>
      follower.once('exit', (code) => resolveExit(code)),
    );
    await new Promise((resolveStarted) => setTimeout(resolveStarted, 1500));

    const down = await claw('down');
    expect(down.code).toBe(EXIT_CODES.ok);
    expect(isAlive(pid)).toBe(false);
    await vi.waitFor(() => expect(followed).toContain('"msg":"stopped"'), { timeout: 10_000 });
    expect(followed).not.toContain('"msg":"ready');
    follower.kill('SIGINT');
    expect(await followerExited).toBe(EXIT_CODES.ok);
    expect(existsSync(join(dataDirectory, 'orchestrator.pid'))).toBe(false);
    expect(readFileSync(join(dataDirectory, 'logs', 'orchestrator.log'), 'utf8')).toContain('"msg":"stopped"');

    const downAgain = await claw('down');
    expect(downAgain.code).toBe(EXIT_CODES.notRunning);
    expect(downAgain.stderr).toMatch(/^claw: The orchestrator is not running/);
  });

  it('starts the five agents under supervision: a stimulus followed to the end of its cycle, their logs, and restart, pause and resume by name', async () => {
    const up = await runClaw(['--data-dir', dataDirectory, 'up', '--detach'], {
      CLAW_START_AGENTS: 'true',
      CLAW_CONTEXT_SIZE: '2048',
    });
    expect(up.code).toBe(EXIT_CODES.ok);
    type Supervised = { name: string; supervision: { state: string; restarts: number; instance?: string } | null };
    const agents = async (): Promise<Supervised[]> =>
      JSON.parse((await claw('agents', '--json')).stdout) as Supervised[];
    const listed = await agents();
    expect(listed.map((agent) => agent.name).sort()).toEqual([
      'DevClaw',
      'LeadClaw',
      'OpsClaw',
      'ScribeClaw',
      'UXClaw',
    ]);
    expect(listed.every((agent) => agent.supervision?.state === 'running')).toBe(true);

    // End to end with the real agents thinking on the generated model: whatever the random model
    // answers, the trail shows the agent taking the stimulus and its cycle ending.
    const waited = await claw(
      'stimulus',
      'Check the disk space and report',
      '--to',
      'OpsClaw',
      '--wait',
      '--timeout',
      '100s',
    );
    expect(waited.code).toBe(EXIT_CODES.ok);
    expect(waited.stdout).toMatch(/OpsClaw picked it up \(cycle #\d+, stimulus:\d+\)/);
    expect(waited.stdout).toMatch(/OpsClaw done: (success|partial|failure|ignored|delegated)/);
    const logs = await claw('logs', 'OpsClaw', '-n', '200');
    const lines = logs.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { agent?: string; name?: string });
    expect(lines.length).toBeGreaterThan(1);
    expect(lines.every((line) => line.agent === 'OpsClaw' || line.name === 'OpsClaw')).toBe(true);

    const before = (await agents()).find((agent) => agent.name === 'OpsClaw')!.supervision!;

    const restarted = await claw('agents', 'restart', 'OpsClaw', '--json');
    expect(restarted.code).toBe(EXIT_CODES.ok);
    const after = JSON.parse(restarted.stdout) as { state: string; restarts: number; instance: string };
    expect(after).toMatchObject({ agent: 'OpsClaw', state: 'running', restarts: before.restarts + 1 });
    expect(after.instance).not.toBe(before.instance);

    expect((await claw('agents', 'pause', 'UXClaw')).stdout).toMatch(/^UXClaw paused: paused/);
    expect((await agents()).find((agent) => agent.name === 'UXClaw')!.supervision).toMatchObject({ state: 'paused' });
    const pausedTwice = await claw('agents', 'pause', 'UXClaw');
    expect(pausedTwice.code).toBe(EXIT_CODES.refused);
    expect(pausedTwice.stderr.trim().split('\n').at(-1)).toBe('claw: UXClaw is already paused');
    expect((await claw('agents', 'resume', 'UXClaw')).stdout).toMatch(/^UXClaw resumed: running/);

    const unknown = await claw('agents', 'restart', 'Nobody');
    expect(unknown.code).toBe(EXIT_CODES.notFound);
    expect(unknown.stderr).toMatch(/^claw: Unknown agent `Nobody`/);
    expect((await claw('down')).code).toBe(EXIT_CODES.ok);
  });

  it('--detach reports a start-up failure in one line with the orchestrator exit code', async () => {
    const result = await runClaw(['--data-dir', dataDirectory, 'up', '--detach'], {
      CLAW_MODEL_PATH: join(dataDirectory, 'no-such-model.gguf'),
    });
    expect(result.code).not.toBe(EXIT_CODES.ok);
    const lines = result.stderr.trim().split('\n');
    expect(lines.at(-1)).toMatch(
      /^claw: the orchestrator exited with code \d+ before it was ready: .*no-such-model\.gguf/,
    );
    expect(existsSync(join(dataDirectory, 'orchestrator.pid'))).toBe(false);
  });
});
