import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeAgentRuntimeContract } from '../../testing/describe-agent-runtime-contract.ts';
import {
  buildFixtureImage,
  dockerForTests,
  ensureNodeBaseImage,
  fixtureImageTag,
} from '../../testing/docker-test-engine.ts';
import type { AgentInstance } from '../agent-runtime.ts';
import { AgentSupervisor, type SupervisorEvent } from '../agent-supervisor.ts';
import { LABELS } from './container-spec.ts';
import { DockerAgentRuntime } from './docker-agent-runtime.ts';

const engine = await dockerForTests();
if (engine.skip !== undefined) {
  // Printed, never silent: the tier is skipped only where no engine can be reached.
  process.stderr.write(`docker tier skipped: ${engine.skip}\n`);
}
const docker = engine.skip === undefined ? engine.docker : (undefined as unknown as Docker);
const suite = engine.skip === undefined ? describe : describe.skip;

const image = fixtureImageTag();
const stacks: string[] = [];
/** A stack name of its own for each runtime family, so parallel runs never meet. */
function stackName(): string {
  const stack = `test-${randomBytes(4).toString('hex')}`;
  stacks.push(stack);
  return stack;
}

const PATH = '/usr/local/bin:/usr/bin:/bin';
const environment = (behaviour: string, extra: Record<string, string> = {}) => ({
  PATH,
  CLAW_FIXTURE_BEHAVIOUR: behaviour,
  ...extra,
});

/** Waits for `predicate` over lines that arrive from the containers (bounded; the assertion after it decides). */
async function until(predicate: () => boolean, attempts = 1_000): Promise<void> {
  for (let attempt = 0; attempt < attempts && !predicate(); attempt += 1) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function containersOf(stack: string, agent?: string): Promise<Docker.ContainerInfo[]> {
  const label = [`${LABELS.stack}=${stack}`, ...(agent === undefined ? [] : [`${LABELS.agent}=${agent}`])];
  return docker.listContainers({ all: true, filters: JSON.stringify({ label }) });
}

suite('DockerAgentRuntime on a real engine', () => {
  beforeAll(async () => {
    buildFixtureImage(await ensureNodeBaseImage(docker), image);
  });

  afterAll(async () => {
    if (engine.skip !== undefined) return;
    for (const stack of stacks) await DockerAgentRuntime.removeStack(docker, stack, { volumes: true });
    // Everything the runtime made carries the stack label: by name, nothing of these stacks is left.
    const volumes = (await docker.listVolumes()).Volumes ?? [];
    const containers = await docker.listContainers({ all: true });
    const ours = (name: string) => stacks.some((stack) => name.replace(/^\//, '').startsWith(`clawfleet-${stack}-`));
    expect(volumes.map((volume) => volume.Name).filter(ours)).toEqual([]);
    expect(containers.flatMap((container) => container.Names).filter(ours)).toEqual([]);
    await docker
      .getImage(image)
      .remove()
      .catch(() => {});
  });

  describeAgentRuntimeContract('docker', {
    createRuntime: (onOutput) => new DockerAgentRuntime({ docker, image, stack: stackName(), onOutput }),
  });

  describe('each agent container', () => {
    it('is sandboxed: read-only root, writable /tmp, workspace and own state, no network, not root, all capabilities dropped', async () => {
      const stack = stackName();
      const runtime = new DockerAgentRuntime({
        docker,
        image,
        stack,
        agents: ['Boxed', 'Peer'],
        onOutput: () => {},
        memoryBytes: 200 * 1024 ** 2,
        pids: 64,
      });
      const instance = await runtime.launch({
        agent: 'Boxed',
        environment: environment('run', {
          CLAW_AGENT_WORKSPACE: '/host/path/agents/Boxed',
          CLAW_AGENT_STATE_DIR: '/host/path/agent-state/Boxed',
        }),
      });
      try {
        const [listed] = await containersOf(stack, 'Boxed');
        const container = docker.getContainer(listed!.Id);
        const probe = `
          const fs = require('node:fs'); const os = require('node:os');
          const tryWrite = (path) => { try { fs.writeFileSync(path, 'x'); return true; } catch { return false; } };
          const status = fs.readFileSync('/proc/self/status', 'utf8');
          console.log(JSON.stringify({
            uid: process.getuid(),
            root: tryWrite('/probe'), tmp: tryWrite('/tmp/probe'), workspace: tryWrite(process.env.CLAW_AGENT_WORKSPACE + '/probe'),
            state: tryWrite(process.env.CLAW_AGENT_STATE_DIR + '/probe'),
            peerVisible: fs.existsSync('/workspace/shared/agents/Peer'), peerWritable: tryWrite('/workspace/shared/agents/Peer/probe'),
            interfaces: Object.keys(os.networkInterfaces()).sort(),
            capabilities: /CapEff:\\s*(\\S+)/.exec(status)[1], noNewPrivileges: /NoNewPrivs:\\s*(\\d)/.exec(status)[1],
          }));`;
        const exec = await container.exec({
          Cmd: ['node', '-e', probe],
          Env: ['CLAW_AGENT_WORKSPACE=/workspace/shared/agents/Boxed'],
          AttachStdout: true,
          AttachStderr: true,
        });
        const stream = await exec.start({ hijack: true, stdin: false });
        const chunks: Buffer[] = [];
        const out = new PassThrough();
        out.on('data', (chunk: Buffer) => chunks.push(chunk));
        docker.modem.demuxStream(stream, out, new PassThrough());
        await new Promise((resolve) => stream.once('end', resolve));
        const seen = JSON.parse(Buffer.concat(chunks).toString('utf8').trim());
        expect(seen).toEqual({
          uid: expect.any(Number),
          root: false,
          tmp: true,
          workspace: true,
          state: true,
          peerVisible: true,
          peerWritable: false,
          interfaces: ['lo'],
          capabilities: '0000000000000000',
          noNewPrivileges: '1',
        });
        expect(seen.uid).not.toBe(0);
        const inspected = await container.inspect();
        expect(inspected.HostConfig.Memory).toBe(200 * 1024 ** 2);
        expect(inspected.HostConfig.PidsLimit).toBe(64);
        expect(inspected.HostConfig.Init).toBe(true);
        expect(inspected.Config.Labels[LABELS.agent]).toBe('Boxed');
        expect(inspected.Mounts.map((mount) => mount.Name ?? mount.Source).sort()).toEqual(
          [
            `clawfleet-${stack}-Boxed-state`,
            `clawfleet-${stack}-Boxed-workspace`,
            `clawfleet-${stack}-Peer-workspace`,
            `clawfleet-${stack}-shared`,
          ].sort(),
        );
      } finally {
        await instance.stop({ graceMs: 5_000 });
      }
      expect(await containersOf(stack)).toEqual([]);
    });

    it('reaches the network only when the agent definition asks for it', async () => {
      const runtime = new DockerAgentRuntime({ docker, image, stack: stackName(), onOutput: () => {} });
      const instance = await runtime.launch({
        agent: 'Networked',
        environment: environment('run'),
        sandbox: { network: true },
      });
      try {
        const [listed] = await containersOf(runtime.stack, 'Networked');
        const inspected = await docker.getContainer(listed!.Id).inspect();
        expect(inspected.HostConfig.NetworkMode).toBe('bridge');
      } finally {
        await instance.stop({ graceMs: 5_000 });
      }
    });
  });

  describe('adoption after an orchestrator restart', () => {
    it('takes over the running container of the same spec instead of starting a second one', async () => {
      const stack = stackName();
      const lines: string[] = [];
      const first = new DockerAgentRuntime({ docker, image, stack, onOutput: (_a, _s, line) => lines.push(line) });
      const spec = { agent: 'Keeper', environment: environment('run') };
      const original = await first.launch(spec, { adopt: true });
      expect(original.adopted).toBe(false);
      await until(() => lines.includes('fixture ready'));
      const [before] = await containersOf(stack, 'Keeper');

      // A new orchestrator (a new runtime, same stack) starts its agents.
      const second = new DockerAgentRuntime({ docker, image, stack, onOutput: () => {} });
      const adopted = await second.launch(spec, { adopt: true });
      expect(adopted.adopted).toBe(true);
      expect(adopted.id).toBe(original.id);
      const after = await containersOf(stack, 'Keeper');
      expect(after.map((container) => container.Id)).toEqual([before!.Id]);
      expect(after[0]!.State).toBe('running');

      // The adopted instance is the real thing: stopping it stops the container and reports the exit.
      expect(await adopted.stop({ graceMs: 5_000 })).toEqual({ code: 0, signal: null });
      expect(await original.exited).toEqual({ code: 0, signal: null });
      expect(await containersOf(stack, 'Keeper')).toEqual([]);
    });

    it('replaces a running container whose spec changed, and never adopts on a plain launch', async () => {
      const stack = stackName();
      const runtime = new DockerAgentRuntime({ docker, image, stack, onOutput: () => {} });
      const old = await runtime.launch({
        agent: 'Changer',
        environment: environment('run', { CLAW_LOG_LEVEL: 'info' }),
      });
      const changed = await runtime.launch(
        { agent: 'Changer', environment: environment('run', { CLAW_LOG_LEVEL: 'debug' }) },
        { adopt: true },
      );
      expect(changed.adopted).toBe(false);
      expect(changed.id).not.toBe(old.id);
      expect((await old.exited).signal).toBe('SIGKILL');
      const fresh = await runtime.launch({
        agent: 'Changer',
        environment: environment('run', { CLAW_LOG_LEVEL: 'debug' }),
      });
      expect(fresh.adopted).toBe(false);
      expect(fresh.id).not.toBe(changed.id);
      expect((await containersOf(stack, 'Changer')).length).toBe(1);
      await fresh.stop({ graceMs: 5_000 });
    });
  });

  describe('supervision', () => {
    it('restarts an agent whose container is killed from outside (docker kill)', async () => {
      const stack = stackName();
      const events: SupervisorEvent[] = [];
      const runtime = new DockerAgentRuntime({ docker, image, stack, onOutput: () => {} });
      const supervisor = new AgentSupervisor({
        runtime,
        agents: [{ agent: 'Phoenix', environment: environment('run') }],
        restart: { initialDelayMs: 100 },
        onEvent: (event) => events.push(event),
      });
      await supervisor.start();
      try {
        const first = supervisor.instance('Phoenix') as AgentInstance;
        const [listed] = await containersOf(stack, 'Phoenix');
        await docker.getContainer(listed!.Id).kill({ signal: 'SIGKILL' });
        await until(() => events.filter((event) => event.type === 'started').length >= 2, 3_000);
        expect(events.find((event) => event.type === 'exited')).toMatchObject({
          agent: 'Phoenix',
          exit: { code: null, signal: 'SIGKILL' },
          expected: false,
        });
        const second = supervisor.instance('Phoenix');
        expect(second?.id).toBeDefined();
        expect(second?.id).not.toBe(first.id);
        expect(supervisor.status()[0]).toMatchObject({ state: 'running', restarts: 1 });
        const running = await containersOf(stack, 'Phoenix');
        expect(running.map((container) => container.State)).toEqual(['running']);
      } finally {
        await supervisor.stop({ graceMs: 5_000 });
      }
      expect(await containersOf(stack)).toEqual([]);
    });
  });
});
