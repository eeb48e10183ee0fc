import { ClawError } from '@clawfleet/protocol';
import Docker from 'dockerode';

/** The default engine socket when DOCKER_HOST does not name another. */
export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';

/** What the engine says of an image: enough to create containers from it and to tell rebuilds apart. */
export interface ImageDescription {
  name: string;
  id: string;
  env: string[];
  entrypoint: string[];
  cmd: string[];
  user: string;
}

/**
 * A dockerode client for a Unix-socket engine: `unix:///path` (DOCKER_HOST's form) or a bare path.
 * Only local engines: agent containers mount the orchestrator's socket folder, which must be on the
 * engine's own machine.
 */
export function openDockerEngine(host: string | undefined = undefined): Docker {
  const socketPath = engineSocketPath(host);
  return new Docker({ socketPath });
}

export function engineSocketPath(host: string | undefined): string {
  if (host === undefined || host === '') return DEFAULT_DOCKER_SOCKET;
  if (host.startsWith('unix://')) return host.slice('unix://'.length);
  if (host.startsWith('/')) return host;
  throw new ClawError(
    'CONFIG_INVALID',
    `Expected the Docker host to be a Unix socket (unix:///var/run/docker.sock), got \`${host}\`: agent containers mount the orchestrator's socket folder, so the engine must run on this machine`,
    { details: { option: 'dockerHost' } },
  );
}

/** Whether an error from dockerode is the engine answering `status` (404, 409...), not a transport failure. */
export function engineStatus(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** The engine's reason for a refusal, as it sent it. */
export function engineReason(error: unknown): string {
  const json = (error as { json?: { message?: unknown } } | null)?.json;
  if (json && typeof json.message === 'string') return json.message;
  return error instanceof Error ? error.message : String(error);
}

/** Rejects with ENGINE_UNAVAILABLE (saying how to fix it) when the engine does not answer its ping. */
export async function pingEngine(docker: Docker, what = 'the docker runtime'): Promise<{ version: string }> {
  try {
    await docker.ping();
    const version = await docker.version();
    return { version: version.Version };
  } catch (error) {
    const socket = (docker.modem as { socketPath?: string }).socketPath ?? DEFAULT_DOCKER_SOCKET;
    throw new ClawError(
      'ENGINE_UNAVAILABLE',
      `No Docker engine answers on ${socket} (${engineReason(error)}); ${what} needs one`,
      {
        details: {
          socket,
          fix: 'Start Docker (`dockerd`, or your service manager), set DOCKER_HOST to its socket, or use `--runtime process`.',
        },
        cause: error,
      },
    );
  }
}

/** The image, or IMAGE_NOT_FOUND with the command that builds it. */
export async function describeImage(docker: Docker, name: string, buildHint: string): Promise<ImageDescription> {
  let info: Docker.ImageInspectInfo;
  try {
    info = await docker.getImage(name).inspect();
  } catch (error) {
    if (engineStatus(error) === 404) {
      throw new ClawError('IMAGE_NOT_FOUND', `The agent image ${name} is not on the Docker engine`, {
        details: { image: name, fix: buildHint },
      });
    }
    throw new ClawError('ENGINE_UNAVAILABLE', `Could not inspect image ${name}: ${engineReason(error)}`, {
      details: { image: name },
      cause: error,
    });
  }
  const config = info.Config;
  const list = (value: unknown): string[] =>
    Array.isArray(value) ? value.map(String) : typeof value === 'string' ? [value] : [];
  return {
    name,
    id: info.Id,
    env: list(config?.Env),
    entrypoint: list(config?.Entrypoint),
    cmd: list(config?.Cmd),
    user: typeof config?.User === 'string' ? config.User : '',
  };
}
