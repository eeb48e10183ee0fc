import { lstat, mkdir, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { ClawError } from '@clawfleet/protocol';

/** Linux `sun_path` holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;

/**
 * Makes `path` ready to bind: creates its folder (0700 when new), removes a stale socket file left
 * by a crashed run, and refuses a path that a live server answers on or that is not a socket.
 */
export async function prepareSocketPath(path: string): Promise<void> {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
    throw new ClawError(
      'SOCKET_PATH_INVALID',
      `Socket path is ${Buffer.byteLength(path)} bytes; Unix sockets allow at most ${MAX_SOCKET_PATH_BYTES}: ${path}`,
      { details: { path } },
    );
  }
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  let stats: Awaited<ReturnType<typeof lstat>>;
  try {
    stats = await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new ClawError('SOCKET_PATH_INVALID', `Cannot inspect socket path ${path}: ${(error as Error).message}`, {
      details: { path },
      cause: error,
    });
  }
  if (!stats.isSocket()) {
    throw new ClawError('SOCKET_PATH_INVALID', `${path} exists and is not a socket; refusing to replace it`, {
      details: { path },
    });
  }
  if (await isLive(path)) {
    throw new ClawError('SOCKET_IN_USE', `Another server is listening on ${path}`, { details: { path } });
  }
  await unlink(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
}

function isLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    const finish = (live: boolean): void => {
      socket.destroy();
      resolve(live);
    };
    socket.setTimeout(1000, () => finish(true));
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}
