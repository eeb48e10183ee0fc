import { createHash } from 'node:crypto';
import { basename, dirname } from 'node:path';
import { ClawError } from '@clawfleet/protocol';
import type Docker from 'dockerode';
import type { AgentLaunchSpec } from '../agent-runtime.ts';

// Mount points as the agent image (containers/Dockerfile) lays them out, owned by its user there.
/** Where the orchestrator's socket directory appears inside an agent container (read-only). */
export const CONTAINER_SOCKET_DIRECTORY = '/run/clawfleet/socket';
/** The stack's shared workspace volume inside every agent container. */
export const CONTAINER_SHARED_WORKSPACE = '/workspace/shared';
/**
 * Where an agent's workspace volume appears: inside the shared workspace, as in the process runtime
 * (`<workspace>/agents/<name>`), so what DevClaw writes UXClaw can read. Its own is mounted
 * read-write, every other agent's read-only.
 */
export function containerWorkspace(agent: string): string {
  return `${CONTAINER_SHARED_WORKSPACE}/agents/${agent}`;
}

/**
 * Where an agent's own state volume appears (CLAW_AGENT_STATE_DIR: its embedding cache), read-write
 * and outside the shared workspace, so no other agent's container ever mounts it or its file tools
 * read it.
 */
export const CONTAINER_STATE_DIRECTORY = '/var/lib/clawfleet-agent';

/** Labels every agent container (and volume) of a stack carries; adoption finds containers by them. */
export const LABELS = {
  stack: 'dev.clawfleet.stack',
  agent: 'dev.clawfleet.agent',
  /** Hash of everything the container was created from (image id, command, environment, limits, mounts). */
  specHash: 'dev.clawfleet.spec-hash',
} as const;

/** Names the engine accepts for containers and volumes, kept short and predictable. */
const STACK_PATTERN = /^[a-z0-9][a-z0-9_.-]{0,39}$/;
const AGENT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Variables the engine or the image put into every container; those not in the spec are unset. */
const AMBIENT_VARIABLES = ['PATH', 'HOSTNAME', 'HOME'] as const;

const DEFAULT_SEARCH_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The limits and sandbox a runtime applies when the agent's definition does not ask for others. */
export interface ContainerDefaults {
  memoryBytes: number;
  pids: number;
  /** Size of the /tmp tmpfs. */
  scratchBytes: number;
}

export interface ContainerSpecInput {
  stack: string;
  launch: AgentLaunchSpec;
  /** The image as the engine describes it (`docker image inspect`): its id, env and command. */
  image: { name: string; id: string; env: readonly string[]; entrypoint: readonly string[]; cmd: readonly string[] };
  /** What runs in the container. @default the image's entrypoint and command */
  command?: readonly string[] | undefined;
  /** `uid:gid`, never root. */
  user: string;
  defaults: ContainerDefaults;
  /** The stack's other agents, whose workspaces this one may read. @default none */
  peers?: readonly string[];
}

export interface ContainerSpec {
  name: string;
  ownVolume: string;
  /** The agent's state volume, mounted at CONTAINER_STATE_DIRECTORY in its container only. */
  stateVolume: string;
  sharedVolume: string;
  /** The other agents' workspace volumes (agent → volume), mounted read-only. */
  peerVolumes: Record<string, string>;
  /** The host folder mounted at CONTAINER_SOCKET_DIRECTORY, when the spec names a socket. */
  socketDirectory: string | undefined;
  hash: string;
  create: Docker.ContainerCreateOptions;
}

export function validateStackName(stack: string): string {
  if (!STACK_PATTERN.test(stack)) {
    throw new ClawError(
      'CONFIG_INVALID',
      `Expected \`stack\` to be 1-40 lowercase letters, digits, '.', '_' or '-' starting with a letter or digit, got \`${stack}\``,
      { details: { option: 'stack' } },
    );
  }
  return stack;
}

export function containerName(stack: string, agent: string): string {
  return `clawfleet-${stack}-${agent}`;
}

export function workspaceVolumeName(stack: string, agent: string): string {
  return `clawfleet-${stack}-${agent}-workspace`;
}

export function stateVolumeName(stack: string, agent: string): string {
  return `clawfleet-${stack}-${agent}-state`;
}

export function sharedVolumeName(stack: string): string {
  return `clawfleet-${stack}-shared`;
}

/**
 * Parses `uid:gid` (numbers only, so the runtime can hand the socket and volumes to that user) and
 * refuses root: an agent container never runs as root.
 */
export function parseContainerUser(user: string): { uid: number; gid: number } {
  const match = /^(\d{1,10}):(\d{1,10})$/.exec(user);
  const uid = Number(match?.[1]);
  const gid = Number(match?.[2]);
  if (!match || uid > 0xffff_fffe || gid > 0xffff_fffe) {
    throw new ClawError('CONFIG_INVALID', `Expected \`agentUser\` to be numeric \`uid:gid\`, got \`${user}\``, {
      details: { option: 'agentUser' },
    });
  }
  if (uid === 0) {
    throw new ClawError('CONFIG_INVALID', `Agent containers never run as root; \`agentUser\` is \`${user}\``, {
      details: { option: 'agentUser' },
    });
  }
  return { uid, gid };
}

/**
 * Everything one agent container is created from. The environment is exactly the launch spec's
 * names: values that name host paths are translated to where those paths appear in the container
 * (CLAW_SOCKET, CLAW_AGENT_WORKSPACE, CLAW_SHARED_WORKSPACE, CLAW_AGENT_STATE_DIR; PATH becomes the image's search path,
 * since host folders mean nothing there), and what the engine or the image would add (HOSTNAME,
 * HOME, the image's ENV) is unset by `env -u` before the agent starts.
 */
export function containerSpec(input: ContainerSpecInput): ContainerSpec {
  const { stack, launch, image, defaults } = input;
  validateStackName(stack);
  if (!AGENT_PATTERN.test(launch.agent)) {
    throw new ClawError('CONFIG_INVALID', `Agent name \`${launch.agent}\` cannot name a container`, {
      details: { agent: launch.agent },
    });
  }
  parseContainerUser(input.user);
  const command = input.command ?? [...image.entrypoint, ...image.cmd];
  if (command.length === 0) {
    throw new ClawError(
      'CONFIG_INVALID',
      `Image ${image.name} has neither an entrypoint nor a command, so an agent container has nothing to run`,
      { details: { image: image.name } },
    );
  }
  const imageEnvironment = new Map(
    image.env.map((entry) => {
      const at = entry.indexOf('=');
      return [at < 0 ? entry : entry.slice(0, at), at < 0 ? '' : entry.slice(at + 1)] as const;
    }),
  );
  const environment: Record<string, string> = {};
  let socketDirectory: string | undefined;
  for (const [name, value] of Object.entries(launch.environment)) {
    if (name === 'CLAW_SOCKET') {
      socketDirectory = dirname(value);
      environment[name] = `${CONTAINER_SOCKET_DIRECTORY}/${basename(value)}`;
    } else if (name === 'CLAW_AGENT_WORKSPACE') environment[name] = containerWorkspace(launch.agent);
    else if (name === 'CLAW_SHARED_WORKSPACE') environment[name] = CONTAINER_SHARED_WORKSPACE;
    else if (name === 'CLAW_AGENT_STATE_DIR') environment[name] = CONTAINER_STATE_DIRECTORY;
    else if (name === 'PATH') environment[name] = imageEnvironment.get('PATH') || DEFAULT_SEARCH_PATH;
    else environment[name] = value;
  }
  const unset = [...new Set([...AMBIENT_VARIABLES, ...imageEnvironment.keys()])]
    .filter((name) => !Object.hasOwn(environment, name))
    .sort();

  const sandbox = launch.sandbox ?? {};
  const memoryBytes = sandbox.memoryBytes ?? defaults.memoryBytes;
  const pids = sandbox.pids ?? defaults.pids;
  const name = containerName(stack, launch.agent);
  const ownVolume = workspaceVolumeName(stack, launch.agent);
  const stateVolume = stateVolumeName(stack, launch.agent);
  const sharedVolume = sharedVolumeName(stack);
  const peers = [...new Set(input.peers ?? [])]
    .filter((peer) => peer !== launch.agent && AGENT_PATTERN.test(peer))
    .sort();
  const peerVolumes = Object.fromEntries(peers.map((peer) => [peer, workspaceVolumeName(stack, peer)]));
  // The engine mounts the shared volume first (shorter target), then the workspaces inside it.
  const mounts: Docker.MountSettings[] = [
    { Type: 'volume', Source: sharedVolume, Target: CONTAINER_SHARED_WORKSPACE, ReadOnly: false },
    { Type: 'volume', Source: ownVolume, Target: containerWorkspace(launch.agent), ReadOnly: false },
    { Type: 'volume', Source: stateVolume, Target: CONTAINER_STATE_DIRECTORY, ReadOnly: false },
    ...peers.map(
      (peer): Docker.MountSettings => ({
        Type: 'volume',
        Source: workspaceVolumeName(stack, peer),
        Target: containerWorkspace(peer),
        ReadOnly: true,
      }),
    ),
  ];
  // Read-only: connecting to a Unix socket needs no write access to its file system.
  if (socketDirectory !== undefined) {
    mounts.push({ Type: 'bind', Source: socketDirectory, Target: CONTAINER_SOCKET_DIRECTORY, ReadOnly: true });
  }
  const hostConfig: Docker.HostConfig = {
    // docker-init as PID 1 forwards SIGTERM to the agent and reaps its children.
    Init: true,
    ReadonlyRootfs: true,
    Tmpfs: { '/tmp': `rw,nosuid,nodev,size=${defaults.scratchBytes}` },
    CapDrop: ['ALL'],
    SecurityOpt: ['no-new-privileges'],
    Memory: memoryBytes,
    // No swap beyond the memory limit.
    MemorySwap: memoryBytes,
    PidsLimit: pids,
    NetworkMode: sandbox.network === true ? 'bridge' : 'none',
    Mounts: mounts,
    // The supervisor restarts agents (with backoff and a budget), never the engine.
    RestartPolicy: { Name: 'no' },
    LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } },
  };
  const body = {
    Image: image.name,
    Entrypoint: ['/usr/bin/env', ...unset.flatMap((variable) => ['-u', variable])],
    Cmd: [...command],
    Env: Object.entries(environment)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, value]) => `${key}=${value}`),
    User: input.user,
    HostConfig: hostConfig,
  };
  // The image's id, not its name: a rebuilt image under the same tag is a different container.
  const hash = createHash('sha256')
    .update(JSON.stringify({ ...body, ImageId: image.id }))
    .digest('hex');
  return {
    name,
    ownVolume,
    stateVolume,
    sharedVolume,
    peerVolumes,
    socketDirectory,
    hash,
    create: {
      ...body,
      name,
      Labels: { [LABELS.stack]: stack, [LABELS.agent]: launch.agent, [LABELS.specHash]: hash },
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      Tty: false,
      OpenStdin: false,
    },
  };
}
