import { ClawError } from '@clawfleet/protocol';
import { describe, expect, it } from 'vitest';
import { type ContainerSpecInput, containerSpec, parseContainerUser, validateStackName } from './container-spec.ts';
import { exitFromStatus } from './docker-agent-runtime.ts';

const input = (overrides: Partial<ContainerSpecInput> = {}): ContainerSpecInput => ({
  stack: 'home',
  launch: {
    agent: 'DevClaw',
    environment: {
      PATH: '/home/me/.nvm/bin:/usr/bin',
      CLAW_AGENT_NAME: 'DevClaw',
      CLAW_SOCKET: '/home/me/.data/run/orchestrator.sock',
      CLAW_AGENT_WORKSPACE: '/home/me/.data/workspace/agents/DevClaw',
      CLAW_SHARED_WORKSPACE: '/home/me/.data/workspace',
      CLAW_AGENT_STATE_DIR: '/home/me/.data/agent-state/DevClaw',
    },
  },
  image: {
    name: 'clawfleet/agent:latest',
    id: 'sha256:aaa',
    env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'NODE_VERSION=20.20.2'],
    entrypoint: [],
    cmd: ['node', '/app/agent-main.js'],
  },
  user: '10001:10001',
  defaults: { memoryBytes: 512 * 1024 ** 2, pids: 256, scratchBytes: 64 * 1024 ** 2 },
  ...overrides,
});

const code = (run: () => unknown): string | undefined => {
  try {
    run();
  } catch (error) {
    return error instanceof ClawError ? error.code : 'not a ClawError';
  }
  return undefined;
};

describe('containerSpec', () => {
  it('gives the container exactly the spec variables, with host paths translated to the mounts', () => {
    const spec = containerSpec(input());
    expect(spec.create.Env).toEqual([
      'CLAW_AGENT_NAME=DevClaw',
      'CLAW_AGENT_STATE_DIR=/var/lib/clawfleet-agent',
      'CLAW_AGENT_WORKSPACE=/workspace/shared/agents/DevClaw',
      'CLAW_SHARED_WORKSPACE=/workspace/shared',
      'CLAW_SOCKET=/run/clawfleet/socket/orchestrator.sock',
      'PATH=/usr/local/bin:/usr/bin:/bin',
    ]);
    // What the engine and the image would add is unset before the agent starts.
    expect(spec.create.Entrypoint).toEqual(['/usr/bin/env', '-u', 'HOME', '-u', 'HOSTNAME', '-u', 'NODE_VERSION']);
    expect(spec.create.Cmd).toEqual(['node', '/app/agent-main.js']);
    expect(spec.socketDirectory).toBe('/home/me/.data/run');
    expect(spec.create.HostConfig?.Mounts).toEqual([
      { Type: 'volume', Source: 'clawfleet-home-shared', Target: '/workspace/shared', ReadOnly: false },
      {
        Type: 'volume',
        Source: 'clawfleet-home-DevClaw-workspace',
        Target: '/workspace/shared/agents/DevClaw',
        ReadOnly: false,
      },
      { Type: 'volume', Source: 'clawfleet-home-DevClaw-state', Target: '/var/lib/clawfleet-agent', ReadOnly: false },
      { Type: 'bind', Source: '/home/me/.data/run', Target: '/run/clawfleet/socket', ReadOnly: true },
    ]);
  });

  it("mounts the other agents' workspaces read-only where the process runtime puts them", () => {
    const spec = containerSpec(input({ peers: ['UXClaw', 'DevClaw', 'LeadClaw'] }));
    expect(spec.peerVolumes).toEqual({
      LeadClaw: 'clawfleet-home-LeadClaw-workspace',
      UXClaw: 'clawfleet-home-UXClaw-workspace',
    });
    expect(spec.create.HostConfig?.Mounts?.filter((mount) => mount.ReadOnly && mount.Type === 'volume')).toEqual([
      {
        Type: 'volume',
        Source: 'clawfleet-home-LeadClaw-workspace',
        Target: '/workspace/shared/agents/LeadClaw',
        ReadOnly: true,
      },
      {
        Type: 'volume',
        Source: 'clawfleet-home-UXClaw-workspace',
        Target: '/workspace/shared/agents/UXClaw',
        ReadOnly: true,
      },
    ]);
  });

  it('hardens every container and applies the definition limits over the defaults', () => {
    const plain = containerSpec(input()).create.HostConfig;
    expect(plain).toMatchObject({
      Init: true,
      ReadonlyRootfs: true,
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      NetworkMode: 'none',
      Memory: 512 * 1024 ** 2,
      MemorySwap: 512 * 1024 ** 2,
      PidsLimit: 256,
      RestartPolicy: { Name: 'no' },
    });
    expect(plain?.Tmpfs?.['/tmp']).toContain(`size=${64 * 1024 ** 2}`);
    const asked = containerSpec(
      input({
        launch: { ...input().launch, sandbox: { network: true, memoryBytes: 128 * 1024 ** 2, pids: 32 } },
      }),
    ).create.HostConfig;
    expect(asked).toMatchObject({ NetworkMode: 'bridge', Memory: 128 * 1024 ** 2, PidsLimit: 32 });
  });

  it('hashes what the container is made of: a rebuilt image or another variable is a different container', () => {
    const base = containerSpec(input()).hash;
    expect(containerSpec(input()).hash).toBe(base);
    expect(containerSpec(input({ image: { ...input().image, id: 'sha256:bbb' } })).hash).not.toBe(base);
    expect(
      containerSpec(input({ launch: { ...input().launch, environment: { ...input().launch.environment, X: '1' } } }))
        .hash,
    ).not.toBe(base);
  });

  it('runs the given command instead of the image’s, and refuses an image with nothing to run', () => {
    expect(containerSpec(input({ command: ['node', '/x.mjs'] })).create.Cmd).toEqual(['node', '/x.mjs']);
    expect(code(() => containerSpec(input({ image: { ...input().image, cmd: [] } })))).toBe('CONFIG_INVALID');
  });

  it('refuses root, malformed users, stack names the engine cannot use and agent names that cannot name a container', () => {
    expect(parseContainerUser('1000:1000')).toEqual({ uid: 1000, gid: 1000 });
    expect(code(() => parseContainerUser('0:0'))).toBe('CONFIG_INVALID');
    expect(code(() => parseContainerUser('node'))).toBe('CONFIG_INVALID');
    expect(code(() => validateStackName('Has Spaces'))).toBe('CONFIG_INVALID');
    expect(code(() => containerSpec(input({ launch: { agent: 'a/b', environment: {} } })))).toBe('CONFIG_INVALID');
  });
});

describe('exitFromStatus', () => {
  it('reads 128+N as signal N, an OOM kill as SIGKILL, and anything else as an exit code', () => {
    expect(exitFromStatus(0, false)).toEqual({ code: 0, signal: null });
    expect(exitFromStatus(78, false)).toEqual({ code: 78, signal: null });
    expect(exitFromStatus(137, false)).toEqual({ code: null, signal: 'SIGKILL' });
    expect(exitFromStatus(143, false)).toEqual({ code: null, signal: 'SIGTERM' });
    expect(exitFromStatus(1, true)).toEqual({ code: null, signal: 'SIGKILL' });
  });
});
