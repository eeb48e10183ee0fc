import { randomBytes } from 'node:crypto';
import { chownSync, type Dirent, readdirSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { PassThrough } from 'node:stream';
import { ClawError, type Logger, silentLogger } from '@clawfleet/protocol';
import type Docker from 'dockerode';
import type { AgentExit, AgentInstance, AgentLaunchOptions, AgentLaunchSpec, AgentRuntime } from '../agent-runtime.ts';
import {
  type ContainerDefaults,
  type ContainerSpec,
  containerSpec,
  LABELS,
  parseContainerUser,
  validateStackName,
} from './container-spec.ts';
import { describeImage, engineReason, engineStatus, type ImageDescription, pingEngine } from './docker-engine.ts';

/** Defaults of an agent container's limits (docs/configuration.md). */
export const DEFAULT_AGENT_CONTAINER_LIMITS: Readonly<ContainerDefaults> = Object.freeze({
  memoryBytes: 512 * 1024 * 1024,
  pids: 256,
  scratchBytes: 64 * 1024 * 1024,
});

/** The user agent containers run as when the orchestrator runs as root (never root itself). */
export const DEFAULT_ROOT_ORCHESTRATOR_AGENT_USER = '10001:10001';

/**
 * `uid:gid` of agent containers: the orchestrator's own user when it is not root (so the socket
 * and files stay its own), else DEFAULT_ROOT_ORCHESTRATOR_AGENT_USER.
 */
export function defaultAgentUser(): string {
  const uid = process.getuid?.();
  const gid = process.getgid?.();
  return uid === undefined || gid === undefined || uid === 0 ? DEFAULT_ROOT_ORCHESTRATOR_AGENT_USER : `${uid}:${gid}`;
}

export interface DockerAgentRuntimeOptions {
  /** The engine (see `openDockerEngine`); the caller owns it. */
  docker: Docker;
  /** The agent image: every agent container is created from it. */
  image: string;
  /**
   * Names this orchestrator's containers and volumes (`clawfleet-<stack>-<agent>`) and labels them,
   * so two stacks on one engine never touch each other's agents and a restarted orchestrator finds
   * its own. Lowercase letters, digits, `.`, `_`, `-`.
   */
  stack: string;
  /** What runs in each container. @default the image's entrypoint and command */
  command?: readonly string[];
  /**
   * Every agent of the stack: each container mounts the others' workspace volumes read-only inside
   * the shared workspace, as the process runtime lays them out. @default none (own workspace only)
   */
  agents?: readonly string[];
  /** `uid:gid`, never root. @default defaultAgentUser() */
  user?: string;
  /** Memory limit of an agent whose definition sets none. @default 512 MiB */
  memoryBytes?: number;
  /** Process/thread limit of an agent whose definition sets none. @default 256 */
  pids?: number;
  /** Size of each container's /tmp (tmpfs). @default 64 MiB */
  scratchBytes?: number;
  /** How to build the image, for the error when it is missing. @default imageBuildHint(image) */
  buildHint?: string;
  /** Receives each line an agent writes. @default this process's stdout/stderr */
  onOutput?: (agent: string, stream: 'stdout' | 'stderr', line: string) => void;
  logger?: Logger;
}

/** One running agent container's resource use (`bench operate`, `claw status`). */
export interface AgentContainerUsage {
  agent: string;
  containerId: string;
  /** Memory charged to the container's cgroup, less the page cache it could drop. */
  memoryBytes: number;
  memoryLimitBytes: number;
  pids: number;
}

/** How to build the agent image under `image`, for the error when it is missing. */
export function imageBuildHint(image: string): string {
  return `Build it from the checkout: \`docker build -f containers/Dockerfile --target agent -t ${image} .\` (where no registry is reachable, run containers/make-offline-base.sh first and add \`--build-arg BASE_IMAGE=clawfleet/node-base:20-bookworm\`; docs/containers.md).`;
}

function defaultOutput(_agent: string, stream: 'stdout' | 'stderr', line: string): void {
  (stream === 'stdout' ? process.stdout : process.stderr).write(`${line}\n`);
}

/**
 * The container exit as the port reports it: Docker's 128+N (docker-init's and the shell's
 * convention for "ended by signal N") becomes that signal, and an out-of-memory kill is SIGKILL.
 * An agent that itself exits with a code above 128 reads as a signal too; agents do not.
 */
export function exitFromStatus(statusCode: number, oomKilled: boolean): AgentExit {
  if (oomKilled) return { code: null, signal: 'SIGKILL' };
  if (statusCode > 128 && statusCode <= 128 + 64) {
    const number = statusCode - 128;
    const name = Object.entries(osConstants.signals).find(([, value]) => value === number)?.[0];
    if (name !== undefined) return { code: null, signal: name };
  }
  return { code: statusCode, signal: null };
}

/**
 * Agents as Docker containers (dockerode), each hardened: read-only root file system, a tmpfs
 * /tmp, its own workspace and state volumes and the stack's shared one, the orchestrator's socket folder
 * mounted read-only, all capabilities dropped, no-new-privileges, memory and pids limits, no
 * network unless its definition asks for it, a non-root user, and docker-init so SIGTERM reaches
 * the agent. Output is followed through the engine's logs; the exit code comes from `wait`.
 *
 * Containers outlive the orchestrator, so this runtime can adopt: `launch(spec, { adopt: true })`
 * attaches to the agent's running container when it was created from the same spec (same image id,
 * environment, limits), and otherwise removes whatever container the agent has before creating one.
 */
export class DockerAgentRuntime implements AgentRuntime {
  readonly kind = 'docker';
  readonly canAdopt = true;
  readonly image: string;
  readonly stack: string;
  readonly #docker: Docker;
  readonly #options: DockerAgentRuntimeOptions;
  readonly #user: string;
  readonly #owner: { uid: number; gid: number };
  readonly #defaults: ContainerDefaults;
  readonly #logger: Logger;
  readonly #onOutput: NonNullable<DockerAgentRuntimeOptions['onOutput']>;
  readonly #volumes = new Map<string, Promise<void>>();
  /** Running containers by agent, for `usage()`. */
  readonly #running = new Map<string, string>();

  constructor(options: DockerAgentRuntimeOptions) {
    this.#docker = options.docker;
    this.#options = options;
    this.image = options.image;
    this.stack = validateStackName(options.stack);
    this.#user = options.user ?? defaultAgentUser();
    this.#owner = parseContainerUser(this.#user);
    this.#defaults = {
      memoryBytes: options.memoryBytes ?? DEFAULT_AGENT_CONTAINER_LIMITS.memoryBytes,
      pids: options.pids ?? DEFAULT_AGENT_CONTAINER_LIMITS.pids,
      scratchBytes: options.scratchBytes ?? DEFAULT_AGENT_CONTAINER_LIMITS.scratchBytes,
    };
    this.#logger = (options.logger ?? silentLogger).child({ component: 'agent-runtime', runtime: 'docker' });
    this.#onOutput = options.onOutput ?? defaultOutput;
  }

  /**
   * Checks that the engine answers and the image is there: ENGINE_UNAVAILABLE or IMAGE_NOT_FOUND,
   * each with its fix. The orchestrator runs it before it starts anything.
   */
  async check(): Promise<{ engineVersion: string; imageId: string }> {
    const { version } = await pingEngine(this.#docker);
    const image = await describeImage(this.#docker, this.image, this.#buildHint());
    return { engineVersion: version, imageId: image.id };
  }

  async launch(spec: AgentLaunchSpec, options: AgentLaunchOptions = {}): Promise<AgentInstance> {
    const image = await this.#image();
    const container = containerSpec({
      stack: this.stack,
      launch: spec,
      image,
      command: this.#options.command,
      user: this.#user,
      defaults: this.#defaults,
      ...(this.#options.agents === undefined ? {} : { peers: this.#options.agents }),
    });
    if (container.socketDirectory !== undefined) this.prepareSocketDirectory(container.socketDirectory);

    let adopted: string | undefined;
    for (const existing of await this.#containersOf(spec.agent)) {
      const matches = existing.State === 'running' && existing.Labels[LABELS.specHash] === container.hash;
      if (options.adopt === true && matches && adopted === undefined) {
        adopted = existing.Id;
        continue;
      }
      this.#logger.info(
        { agent: spec.agent, container: existing.Id.slice(0, 12), state: existing.State },
        existing.State === 'running'
          ? 'removing a running container of this agent that does not match its spec'
          : 'removing an ended container of this agent',
      );
      await this.#remove(existing.Id);
    }
    if (adopted !== undefined) {
      this.#logger.info({ agent: spec.agent, container: adopted.slice(0, 12) }, 'adopting the running agent container');
      return this.#watch(spec.agent, adopted, true);
    }

    // Every volume exists, handed to the agents' user, before a container mounts it: the engine
    // would create a missing one owned by root (and unlabelled, so removeStack would miss it).
    await Promise.all([
      this.#volume(container.ownVolume, image, spec.agent),
      this.#volume(container.stateVolume, image, spec.agent),
      this.#volume(container.sharedVolume, image),
      ...Object.entries(container.peerVolumes).map(([peer, volume]) => this.#volume(volume, image, peer)),
    ]);
    const id = await this.#createAndStart(spec.agent, container);
    this.#logger.info({ agent: spec.agent, container: id.slice(0, 12), image: this.image }, 'agent container started');
    return this.#watch(spec.agent, id, false);
  }

  /** Memory and pids of every running agent container of this runtime. */
  async usage(): Promise<AgentContainerUsage[]> {
    const usage = await Promise.all(
      [...this.#running].map(async ([agent, id]): Promise<AgentContainerUsage | undefined> => {
        try {
          const stats = (await this.#docker.getContainer(id).stats({ stream: false })) as Docker.ContainerStats;
          const memory = stats.memory_stats;
          const inactive = Number(memory.stats?.inactive_file ?? memory.stats?.total_inactive_file ?? 0);
          return {
            agent,
            containerId: id,
            memoryBytes: Math.max(0, Number(memory.usage ?? 0) - inactive),
            memoryLimitBytes: Number(memory.limit ?? 0),
            pids: Number(stats.pids_stats?.current ?? 0),
          };
        } catch {
          return undefined; // ended between the listing and the stats call
        }
      }),
    );
    return usage.filter((entry): entry is AgentContainerUsage => entry !== undefined);
  }

  /**
   * Removes every container of this stack (running or not) and, with `volumes`, its workspace
   * and state volumes. For tests and for a person who wants a stack gone; `claw down` keeps the volumes
   * (the agents' workspaces are data).
   */
  static async removeStack(docker: Docker, stack: string, options: { volumes: boolean }): Promise<void> {
    const filters = JSON.stringify({ label: [`${LABELS.stack}=${stack}`] });
    const containers = await docker.listContainers({ all: true, filters });
    await Promise.all(
      containers.map((container) =>
        docker
          .getContainer(container.Id)
          .remove({ force: true })
          .catch((error: unknown) => {
            if (engineStatus(error) !== 404 && engineStatus(error) !== 409) throw error;
          }),
      ),
    );
    if (!options.volumes) return;
    const volumes = (await docker.listVolumes({ filters })).Volumes ?? [];
    await Promise.all(
      volumes.map((volume) =>
        docker
          .getVolume(volume.Name)
          .remove()
          .catch((error: unknown) => {
            if (engineStatus(error) !== 404) throw error;
          }),
      ),
    );
  }

  #buildHint(): string {
    return this.#options.buildHint ?? imageBuildHint(this.image);
  }

  async #image(): Promise<ImageDescription> {
    try {
      return await describeImage(this.#docker, this.image, this.#buildHint());
    } catch (error) {
      if (error instanceof ClawError && error.code === 'ENGINE_UNAVAILABLE') await pingEngine(this.#docker);
      throw error;
    }
  }

  /**
   * The socket folder is mounted into every agent container, so it must hold sockets only (the
   * default `<data>/run/` does); and agents run as their own user, so a root orchestrator hands the
   * folder and its sockets to that user (a non-root one runs agents as itself).
   */
  prepareSocketDirectory(directory: string): void {
    let entries: Dirent[];
    try {
      entries = readdirSync(directory, { withFileTypes: true });
    } catch (error) {
      throw new ClawError('CONFIG_INVALID', `Cannot read the socket folder ${directory}: ${(error as Error).message}`, {
        details: { option: 'socketPath' },
        cause: error,
      });
    }
    const others = entries.filter((entry) => !entry.isSocket()).map((entry) => entry.name);
    if (others.length > 0) {
      throw new ClawError(
        'CONFIG_INVALID',
        `The socket folder ${directory} also holds ${others.slice(0, 3).join(', ')}${others.length > 3 ? ', ...' : ''}; the docker runtime mounts it into every agent container. Fix: put the socket in a folder of its own (CLAW_SOCKET=<data-dir>/run/orchestrator.sock, the default)`,
        { details: { option: 'socketPath', directory } },
      );
    }
    const uid = process.getuid?.();
    if (uid === undefined || uid === this.#owner.uid) return;
    try {
      chownSync(directory, this.#owner.uid, this.#owner.gid);
      for (const entry of entries) chownSync(join(directory, entry.name), this.#owner.uid, this.#owner.gid);
    } catch (error) {
      throw new ClawError(
        'CONFIG_INVALID',
        `Cannot hand the socket folder ${directory} to the agents' user ${this.#user}: ${(error as Error).message}. Fix: leave \`agentUser\` unset (agents then run as you), or run the orchestrator as root`,
        { details: { option: 'agentUser' }, cause: error },
      );
    }
  }

  async #containersOf(agent: string): Promise<Docker.ContainerInfo[]> {
    try {
      return await this.#docker.listContainers({
        all: true,
        filters: JSON.stringify({ label: [`${LABELS.stack}=${this.stack}`, `${LABELS.agent}=${agent}`] }),
      });
    } catch (error) {
      await pingEngine(this.#docker);
      throw new ClawError('CONTAINER_FAILED', `Could not list ${agent}'s containers: ${engineReason(error)}`, {
        details: { agent, reason: engineReason(error) },
        cause: error,
      });
    }
  }

  async #remove(id: string): Promise<void> {
    try {
      await this.#docker.getContainer(id).remove({ force: true });
    } catch (error) {
      // Gone already, or its removal is under way (AutoRemove, another remove): either way it goes.
      if (engineStatus(error) === 404 || engineStatus(error) === 409) return;
      throw new ClawError('CONTAINER_FAILED', `Could not remove container ${id.slice(0, 12)}: ${engineReason(error)}`, {
        details: { container: id, reason: engineReason(error) },
        cause: error,
      });
    }
  }

  /**
   * Creates a workspace or state volume once, labelled with the stack, and hands it to the agents' user: a
   * new volume's root belongs to root, and an agent never is.
   */
  #volume(name: string, image: ImageDescription, agent?: string): Promise<void> {
    let pending = this.#volumes.get(name);
    if (pending === undefined) {
      pending = this.#createVolume(name, image, agent);
      this.#volumes.set(name, pending);
      pending.catch(() => this.#volumes.delete(name));
    }
    return pending;
  }

  async #createVolume(name: string, image: ImageDescription, agent: string | undefined): Promise<void> {
    try {
      await this.#docker.getVolume(name).inspect();
      return;
    } catch (error) {
      if (engineStatus(error) !== 404) {
        throw new ClawError('CONTAINER_FAILED', `Could not inspect volume ${name}: ${engineReason(error)}`, {
          details: { volume: name, reason: engineReason(error) },
          cause: error,
        });
      }
    }
    await this.#docker.createVolume({
      Name: name,
      Labels: { [LABELS.stack]: this.stack, ...(agent === undefined ? {} : { [LABELS.agent]: agent }) },
    });
    const helper = await this.#docker.createContainer({
      name: `clawfleet-${this.stack}-volume-${randomBytes(4).toString('hex')}`,
      Image: image.id,
      Entrypoint: ['chown'],
      Cmd: [`${this.#owner.uid}:${this.#owner.gid}`, '/volume'],
      User: '0:0',
      Labels: { [LABELS.stack]: this.stack },
      HostConfig: {
        NetworkMode: 'none',
        ReadonlyRootfs: true,
        CapDrop: ['ALL'],
        CapAdd: ['CHOWN'],
        SecurityOpt: ['no-new-privileges'],
        Mounts: [{ Type: 'volume', Source: name, Target: '/volume' }],
      },
    });
    try {
      await helper.start();
      const result = (await helper.wait()) as { StatusCode: number };
      if (result.StatusCode !== 0) {
        throw new ClawError(
          'CONTAINER_FAILED',
          `Could not hand volume ${name} to the agents' user ${this.#user}: chown in ${this.image} exited ${result.StatusCode}`,
          { details: { volume: name, reason: `chown exited ${result.StatusCode}` } },
        );
      }
    } finally {
      await helper.remove({ force: true }).catch(() => {});
    }
  }

  async #createAndStart(agent: string, spec: ContainerSpec): Promise<string> {
    let container: Docker.Container;
    try {
      container = await this.#docker.createContainer(spec.create);
    } catch (error) {
      if (engineStatus(error) === 409) {
        // A container of that name appeared since the listing (a concurrent start): replace it once.
        await this.#remove(spec.name);
        container = await this.#docker.createContainer(spec.create).catch((retryError: unknown) => {
          throw this.#failed(agent, 'create', retryError);
        });
      } else {
        throw this.#failed(agent, 'create', error);
      }
    }
    try {
      await container.start();
    } catch (error) {
      await this.#remove(container.id);
      throw this.#failed(agent, 'start', error);
    }
    return container.id;
  }

  #failed(agent: string, step: string, error: unknown): ClawError {
    return new ClawError('CONTAINER_FAILED', `Could not ${step} ${agent}'s container: ${engineReason(error)}`, {
      details: { agent, reason: engineReason(error) },
      cause: error,
    });
  }

  /** Follows a started (or adopted) container: its output lines, its exit, and its removal once ended. */
  async #watch(agent: string, id: string, adopted: boolean): Promise<AgentInstance> {
    const container = this.#docker.getContainer(id);
    this.#running.set(agent, id);
    // An adopted container's earlier output was shown by the orchestrator that started it.
    const output = this.#follow(agent, container, adopted);
    const exited = (async (): Promise<AgentExit> => {
      const exit = await this.#waitForExit(container);
      // Its last lines before it is gone (bounded: a stuck log stream must not hold the exit).
      await Promise.race([output, new Promise((resolve) => setTimeout(resolve, 2_000).unref())]);
      if (this.#running.get(agent) === id) this.#running.delete(agent);
      await this.#remove(id).catch((error: unknown) =>
        this.#logger.warn({ err: error, agent, container: id.slice(0, 12) }, 'could not remove an ended container'),
      );
      this.#logger.info({ agent, container: id.slice(0, 12), ...exit }, 'agent container ended');
      return exit;
    })();
    let ended: AgentExit | undefined;
    void exited.then((exit) => {
      ended = exit;
    });
    const send = (signal: 'SIGTERM' | 'SIGKILL'): void => {
      if (ended !== undefined) return;
      container.kill({ signal }).catch((error: unknown) => {
        // 404/409: it ended meanwhile; `exited` reports how.
        if (engineStatus(error) !== 404 && engineStatus(error) !== 409)
          this.#logger.warn({ err: error, agent, signal }, 'could not signal the agent container');
      });
    };
    return {
      agent,
      id: `container ${id.slice(0, 12)}`,
      adopted,
      exited,
      signal: send,
      async stop({ graceMs }) {
        if (ended !== undefined) return ended;
        send('SIGTERM');
        const timer = setTimeout(() => send('SIGKILL'), graceMs);
        try {
          return await exited;
        } finally {
          clearTimeout(timer);
        }
      },
    };
  }

  /** Resolves when the container's log stream ends (it ends with the container). */
  async #follow(agent: string, container: Docker.Container, onlyNew: boolean): Promise<void> {
    let stream: NodeJS.ReadableStream;
    try {
      stream = (await container.logs({
        follow: true,
        stdout: true,
        stderr: true,
        ...(onlyNew ? { tail: 0 } : {}),
      })) as unknown as NodeJS.ReadableStream;
    } catch (error) {
      this.#logger.warn({ err: error, agent }, "could not follow the agent container's output");
      return;
    }
    const streams = { stdout: new PassThrough(), stderr: new PassThrough() };
    this.#docker.modem.demuxStream(stream, streams.stdout, streams.stderr);
    const done: Promise<void>[] = [];
    for (const name of ['stdout', 'stderr'] as const) {
      const lines = createInterface({ input: streams[name], crlfDelay: Number.POSITIVE_INFINITY });
      lines.on('line', (line) => this.#onOutput(agent, name, line));
      done.push(new Promise((resolve) => lines.once('close', () => resolve())));
    }
    const finish = (): void => {
      streams.stdout.end();
      streams.stderr.end();
    };
    stream.once('end', finish);
    stream.once('close', finish);
    stream.once('error', finish);
    await Promise.all(done);
  }

  async #waitForExit(container: Docker.Container): Promise<AgentExit> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        const result = (await container.wait({ condition: 'not-running' })) as { StatusCode: number };
        let oomKilled = false;
        try {
          oomKilled = (await container.inspect()).State.OOMKilled === true;
        } catch {
          // removed by someone else: no more to learn
        }
        return exitFromStatus(result.StatusCode, oomKilled);
      } catch (error) {
        if (engineStatus(error) === 404) return { code: null, signal: null };
        // The engine connection broke (engine restart): look again shortly; the container may live on.
        this.#logger.warn({ err: error, attempt }, 'lost the wait on an agent container; waiting again');
        await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 250 * 2 ** Math.min(attempt, 5))));
      }
    }
  }
}
