import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRuntime } from '../scripts/build.ts';

/**
 * The build `npm run build` makes (scripts/build.ts): the fleet comes up from the bundles alone,
 * the orchestrator, its inference worker and the five agents running plain JavaScript with no tsx
 * loader, and stops as it does from the sources. The bundles go to a folder of their own (two levels
 * below the repository root, as dist/runtime is) so a developer's build is never touched.
 */
const root = resolve(import.meta.dirname, '..');
const AGENTS = ['DevClaw', 'LeadClaw', 'OpsClaw', 'ScribeClaw', 'UXClaw'];
let output: string;
let scratch: string;
let dataDirectory: string;
let up: ChildProcess | undefined;

const environment = (): NodeJS.ProcessEnv => {
  const variables: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(variables)) if (key.startsWith('CLAW_')) delete variables[key];
  return {
    ...variables,
    CLAW_DATA_DIR: dataDirectory,
    CLAW_MODEL_PATH: 'generated',
    CLAW_SLOTS: '2',
    CLAW_THREADS: '1',
    CLAW_GPU: 'cpu',
  };
};

function commandLine(pid: number): string {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  output = join(root, 'dist', `test-runtime-${process.pid}-${Date.now()}`);
  scratch = mkdtempSync(join(tmpdir(), 'claw-build-'));
  dataDirectory = join(scratch, 'data');
  await buildRuntime(output);
});

afterAll(async () => {
  if (up !== undefined && up.exitCode === null && up.signalCode === null) {
    const exited = new Promise((resolveExit) => up!.once('exit', resolveExit));
    up.kill('SIGTERM');
    await exited;
  }
  // Anything a failed test left behind, by pid: the orchestrator's lock file, the agents' pid files.
  const pids: number[] = [];
  const lock = join(dataDirectory, 'orchestrator.lock');
  if (existsSync(lock)) pids.push(Number((JSON.parse(readFileSync(lock, 'utf8')) as { pid: number }).pid));
  for (const agent of AGENTS) {
    const pidFile = join(dataDirectory, 'agents', `${agent}.pid`);
    if (existsSync(pidFile)) pids.push(Number(readFileSync(pidFile, 'utf8')));
  }
  for (const pid of pids) if (Number.isInteger(pid) && pid > 1 && alive(pid)) process.kill(pid, 'SIGKILL');
  rmSync(output, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
}, 60_000);

describe('the built runtime', () => {
  it('brings up the orchestrator, its worker and five agents from the bundles, none through tsx, and stops them all', async () => {
    up = spawn(process.execPath, [join(output, 'claw.js'), 'up'], {
      cwd: root,
      env: environment(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    const exited = new Promise<number | null>((resolveExit) => up!.once('exit', (code) => resolveExit(code)));
    await new Promise<void>((resolveReady, reject) => {
      up!.stderr!.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (/Clawfleet is up[\s\S]*\nNext:/.test(stderr)) resolveReady();
      });
      up!.once('exit', (code) => reject(new Error(`claw up exited with ${code}: ${stderr}`)));
    });
    expect(stderr).toContain(`code     built JavaScript, ${output}`);

    // The agents start once the bus and the model are ready; `claw status` (the bundled CLI) shows them.
    type Status = { orchestrator: { pid: number }; agents: { name: string; online: boolean }[] };
    let status: Status | undefined;
    for (let attempt = 0; attempt < 240; attempt += 1) {
      const { stdout } = await promisify(execFile)(process.execPath, [join(output, 'claw.js'), 'status', '--json'], {
        cwd: root,
        env: environment(),
      });
      status = JSON.parse(stdout) as Status;
      if (status.agents.filter((agent) => agent.online).length === AGENTS.length) break;
      await new Promise((resolveWait) => setTimeout(resolveWait, 250));
    }
    expect(
      status?.agents
        .filter((agent) => agent.online)
        .map((agent) => agent.name)
        .sort(),
    ).toEqual(AGENTS);

    const orchestratorPid = status!.orchestrator.pid;
    expect(commandLine(orchestratorPid)).toBe(`${process.execPath} ${join(output, 'orchestrator.js')} `);
    const agentPids = AGENTS.map((agent) =>
      Number(readFileSync(join(dataDirectory, 'agents', `${agent}.pid`), 'utf8')),
    );
    for (const pid of agentPids) expect(commandLine(pid)).toBe(`${process.execPath} ${join(output, 'agent.js')} `);
    const children = findChildren(orchestratorPid).map(commandLine);
    expect(children.filter((line) => line.includes(join(output, 'inference-worker.js')))).toHaveLength(1);
    expect(children.join('\n')).not.toContain('tsx');

    up.kill('SIGTERM');
    expect(await exited).toBe(0);
    for (const pid of [orchestratorPid, ...agentPids]) expect(alive(pid)).toBe(false);
  });
});

/** The processes whose parent is `pid` (from /proc). */
function findChildren(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}
