import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DockerAgentRuntime, LABELS, loadConfig } from '@clawfleet/orchestrator';
import {
  buildFixtureImage,
  dockerForTests,
  ensureNodeBaseImage,
  fixtureImageTag,
} from '@clawfleet/orchestrator/docker-testing';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * `claw up --runtime docker` end to end on a real engine: the real CLI and orchestrator (generated
 * tiny model), five agent containers from a stand-in agent image (the runtime contract's fixture:
 * it stays up and ignores the socket, so this is about the containers, not the agents' work; the
 * compose test runs the real agent image). The orchestrator is killed and started again: its
 * containers are adopted, not duplicated; `claw down` leaves none behind.
 */
const engine = await dockerForTests();
if (engine.skip !== undefined) process.stderr.write(`docker tier skipped: ${engine.skip}\n`);
const suite = engine.skip === undefined ? describe : describe.skip;
const docker = engine.skip === undefined ? engine.docker : (undefined as unknown as Docker);

const repository = resolve(import.meta.dirname, '..');
const clawBin = join(repository, 'packages/cli/bin/claw.js');
const image = fixtureImageTag();
const dataDirectory = mkdtempSync(join(tmpdir(), 'claw-docker-up-'));
const stack = loadConfig({ CLAW_DATA_DIR: dataDirectory }, repository).docker.stack;
const spawned = new Set<ChildProcess>();

interface ClawResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function claw(args: string[], environment: Record<string, string> = {}): Promise<ClawResult> {
  const child = spawn(process.execPath, [clawBin, '--data-dir', dataDirectory, ...args], {
    cwd: repository,
    env: {
      ...process.env,
      CLAW_CONFIG: '',
      CLAW_SOCKET: '',
      CLAW_MODEL_PATH: '',
      CLAW_SLOTS: '1',
      CLAW_CONTEXT_SIZE: '512',
      CLAW_THREADS: '1',
      CLAW_START_AGENTS: 'true',
      CLAW_AGENT_IMAGE: image,
      // The stand-in agents never heartbeat: no stall restart may change the instances this test follows.
      CLAW_AGENT_START_GRACE_SECONDS: '3600',
      ...environment,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  spawned.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return new Promise((resolveResult, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      spawned.delete(child);
      resolveResult({ code, stdout, stderr });
    });
  });
}

interface StatusJson {
  orchestrator: {
    pid: number;
    runtime?: string;
    agents: { name: string; supervision?: { state: string; instance?: string; adopted?: boolean } }[];
  };
}

async function status(): Promise<StatusJson['orchestrator']> {
  const result = await claw(['status', '--json']);
  expect(result.code).toBe(0);
  return (JSON.parse(result.stdout) as StatusJson).orchestrator;
}

async function stackContainers(): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: JSON.stringify({ label: [`${LABELS.stack}=${stack}`] }) });
}

function orchestratorPid(): number | undefined {
  const lock = join(dataDirectory, 'orchestrator.lock');
  if (!existsSync(lock)) return undefined;
  try {
    return Number((JSON.parse(readFileSync(lock, 'utf8')) as { pid?: unknown }).pid);
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

suite('claw up --runtime docker', () => {
  beforeAll(async () => {
    buildFixtureImage(await ensureNodeBaseImage(docker), image);
  });

  afterAll(async () => {
    // By pid, never by name: the orchestrator this file started, if a failed test left it running.
    const pid = orchestratorPid();
    if (pid !== undefined && pid > 1 && alive(pid)) process.kill(pid, 'SIGKILL');
    for (const child of spawned) child.kill('SIGKILL');
    if (engine.skip === undefined) {
      await DockerAgentRuntime.removeStack(docker, stack, { volumes: true });
      await docker
        .getImage(image)
        .remove()
        .catch(() => {});
    }
    rmSync(dataDirectory, { recursive: true, force: true });
  }, 60_000);

  it('runs the five agents as containers, adopts them after the orchestrator is killed, and leaves none after down', async () => {
    const up = await claw(['up', '--runtime', 'docker', '--detach']);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stderr).toMatch(/agents\s+LeadClaw, DevClaw, UXClaw, OpsClaw, ScribeClaw \(docker, image /);

    const first = await status();
    expect(first.runtime).toBe('docker');
    const firstInstances = first.agents.map((agent) => agent.supervision?.instance);
    expect(firstInstances.every((instance) => instance?.startsWith('container '))).toBe(true);
    const containers = await stackContainers();
    expect(containers.map((container) => container.State)).toEqual(Array(5).fill('running'));
    expect(containers.map((container) => container.Labels[LABELS.agent]).sort()).toEqual([
      'DevClaw',
      'LeadClaw',
      'OpsClaw',
      'ScribeClaw',
      'UXClaw',
    ]);

    // The orchestrator dies without stopping anything: its containers keep running.
    process.kill(first.pid, 'SIGKILL');
    for (let attempt = 0; attempt < 500 && alive(first.pid); attempt += 1) await new Promise((r) => setTimeout(r, 10));
    expect((await stackContainers()).filter((container) => container.State === 'running')).toHaveLength(5);

    const again = await claw(['up', '--runtime', 'docker', '--detach']);
    expect(again.code, again.stderr).toBe(0);
    const second = await status();
    expect(second.agents.map((agent) => agent.supervision?.instance)).toEqual(firstInstances);
    expect(second.agents.every((agent) => agent.supervision?.adopted === true)).toBe(true);
    const text = await claw(['status']);
    expect(text.stdout).toContain('as containers (docker runtime)');
    expect(text.stdout).toMatch(/container [0-9a-f]{12} \(adopted\)/);
    expect((await stackContainers()).map((container) => container.Id).sort()).toEqual(
      containers.map((container) => container.Id).sort(),
    );

    const down = await claw(['down']);
    expect(down.code, down.stderr).toBe(0);
    expect(await stackContainers()).toEqual([]);
  });

  it('refuses in one line, with the fix, when the agent image is missing or no engine answers', async () => {
    const missing = await claw(['up', '--runtime', 'docker', '--detach'], {
      CLAW_AGENT_IMAGE: 'clawfleet-test/no-such-image:none',
    });
    expect(missing.code).toBe(69);
    const missingLines = missing.stderr.trim().split('\n');
    expect(missingLines.at(-1)).toMatch(
      /The agent image clawfleet-test\/no-such-image:none is not on the Docker engine\. Fix: .*docker build -f containers\/Dockerfile --target agent/,
    );

    const noEngine = await claw(['up', '--runtime', 'docker', '--detach'], {
      DOCKER_HOST: `unix://${join(dataDirectory, 'no-engine.sock')}`,
    });
    expect(noEngine.code).toBe(69);
    expect(noEngine.stderr.trim().split('\n').at(-1)).toMatch(
      /No Docker engine answers on .*no-engine\.sock.*Fix: Start Docker/,
    );
    expect(await stackContainers()).toEqual([]);
  });
});
