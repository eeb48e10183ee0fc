import { constants, type Stats } from 'node:fs';
import { type FileHandle, lstat, mkdir, open, realpath, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, posix, relative, sep } from 'node:path';
import { ClawError, type JsonValue } from '@clawfleet/protocol';

/** Which sandbox rule a path or file broke; stable, in `details.rule` of SANDBOX_VIOLATION. */
export type SandboxRule =
  | 'path-invalid'
  | 'path-absolute'
  | 'path-traversal'
  | 'symlink'
  | 'symlink-escape'
  | 'hard-link'
  | 'not-a-regular-file'
  | 'not-a-directory'
  | 'too-large'
  | 'raced';

export function sandboxViolation(
  rule: SandboxRule,
  message: string,
  details: Record<string, JsonValue> = {},
): ClawError {
  return new ClawError('SANDBOX_VIOLATION', message, { details: { rule, ...details } });
}

/**
 * Checks the text of a path the model gave, before touching the file system: relative, no NUL, no
 * `..` segment at all (even one that would stay inside: the kernel resolves `a/..` after following
 * `a`, so `a/../b` is not `b` when `a` is a symlink). Returns the normalized relative path, `.` for
 * the root itself.
 */
export function checkRelativePath(path: string): string {
  if (path.includes('\0')) throw sandboxViolation('path-invalid', 'The path contains a NUL character', { path: '' });
  if (isAbsolute(path) || path.startsWith('~') || /^[A-Za-z]:[\\/]/.test(path)) {
    throw sandboxViolation('path-absolute', `\`${path}\` is absolute; give a path relative to the workspace`, { path });
  }
  const segments = path.split(/[\\/]+/);
  if (segments.includes('..')) {
    throw sandboxViolation('path-traversal', `\`${path}\` contains \`..\`; paths may not leave the workspace`, {
      path,
    });
  }
  const normalized = posix.normalize(segments.filter((segment) => segment.length > 0).join('/'));
  return normalized === '' ? '.' : normalized;
}

function isInside(root: string, candidate: string): boolean {
  if (candidate === root) return true;
  const path = relative(root, candidate);
  return path.length > 0 && !path.startsWith(`..${sep}`) && path !== '..' && !isAbsolute(path);
}

/** `realpath`, but a missing file is `undefined` instead of a throw. */
async function realpathIfExists(path: string): Promise<string | undefined> {
  try {
    return await realpath(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * After opening, proves the open file is the one at a path inside the root: the descriptor's inode
 * must be the inode now found at the resolved path, and that path must be inside. Whatever was
 * swapped in between, the descriptor we keep is then a file inside the root (a race makes the
 * check fail, never pass). A file with several hard links could be a link to a file outside, so it
 * is refused.
 */
async function verifyOpened(handle: FileHandle, rootReal: string, path: string, displayPath: string): Promise<Stats> {
  const opened = await handle.stat();
  if (!opened.isFile()) {
    throw sandboxViolation('not-a-regular-file', `\`${displayPath}\` is not a regular file`, { path: displayPath });
  }
  if (opened.nlink > 1) {
    throw sandboxViolation('hard-link', `\`${displayPath}\` has ${opened.nlink} hard links; refused`, {
      path: displayPath,
    });
  }
  const resolved = await realpathIfExists(path);
  const current = resolved === undefined ? undefined : await stat(resolved).catch(() => undefined);
  if (resolved === undefined || current === undefined || current.ino !== opened.ino || current.dev !== opened.dev) {
    throw sandboxViolation('raced', `\`${displayPath}\` changed while it was being opened; try again`, {
      path: displayPath,
    });
  }
  if (!isInside(rootReal, resolved)) {
    throw sandboxViolation('symlink-escape', `\`${displayPath}\` resolves outside the workspace`, {
      path: displayPath,
    });
  }
  return opened;
}

function errnoOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** Maps what open(2) says about a path to the sandbox rule it means. */
function openFailure(error: unknown, displayPath: string): Error {
  switch (errnoOf(error)) {
    case 'ELOOP':
      return sandboxViolation('symlink', `\`${displayPath}\` is a symbolic link; refused`, { path: displayPath });
    case 'ENXIO':
    case 'EISDIR':
      return sandboxViolation('not-a-regular-file', `\`${displayPath}\` is not a regular file`, { path: displayPath });
    case 'ENOENT':
      return new ClawError('NOT_FOUND', `\`${displayPath}\` does not exist`, { details: { path: displayPath } });
    case 'ENOTDIR':
      return sandboxViolation('not-a-directory', `A parent of \`${displayPath}\` is not a directory`, {
        path: displayPath,
      });
    default:
      return error instanceof Error ? error : new Error(String(error));
  }
}

/**
 * One workspace directory seen through the sandbox rules. Reads may follow symlinks that stay
 * inside; writes never go through a symlink. Every open uses O_NONBLOCK (a FIFO does not hang the
 * agent) and O_NOFOLLOW on the last component, and is verified after the fact (`verifyOpened`).
 */
export class SandboxedDirectory {
  readonly root: string;
  readonly #rootReal: Promise<string>;

  constructor(root: string) {
    if (!isAbsolute(root)) throw new ClawError('CONFIG_INVALID', `Workspace root \`${root}\` must be absolute`);
    this.root = root;
    this.#rootReal = realpath(root);
    this.#rootReal.catch(() => {});
  }

  /** The real path of a directory inside the root (for listing and walking), refusing one outside. */
  async directory(relativePath: string): Promise<{ real: string; display: string }> {
    const display = checkRelativePath(relativePath);
    const rootReal = await this.#rootReal;
    const real = await realpathIfExists(join(rootReal, display));
    if (real === undefined)
      throw new ClawError('NOT_FOUND', `\`${display}\` does not exist`, { details: { path: display } });
    if (!isInside(rootReal, real)) {
      throw sandboxViolation('symlink-escape', `\`${display}\` resolves outside the workspace`, { path: display });
    }
    const info = await stat(real);
    if (!info.isDirectory()) {
      throw sandboxViolation('not-a-directory', `\`${display}\` is not a directory`, { path: display });
    }
    return { real, display };
  }

  /** The real root, for walking. */
  realRoot(): Promise<string> {
    return this.#rootReal;
  }

  /** Is a real path inside this root? */
  async contains(realPath: string): Promise<boolean> {
    return isInside(await this.#rootReal, realPath);
  }

  /** Reads up to `maxBytes` of a regular file inside the root, starting at `offset`. */
  async read(
    relativePath: string,
    options: { offset: number; maxBytes: number },
  ): Promise<{ path: string; bytes: Buffer; size: number }> {
    const display = checkRelativePath(relativePath);
    const rootReal = await this.#rootReal;
    const requested = join(rootReal, display);
    const resolved = await realpathIfExists(requested);
    if (resolved === undefined)
      throw new ClawError('NOT_FOUND', `\`${display}\` does not exist`, { details: { path: display } });
    if (!isInside(rootReal, resolved)) {
      throw sandboxViolation('symlink-escape', `\`${display}\` resolves outside the workspace`, { path: display });
    }
    // lstat first, so a device node is refused without opening it (opening some devices acts).
    const before = await lstat(resolved);
    if (!before.isFile()) {
      throw sandboxViolation('not-a-regular-file', `\`${display}\` is not a regular file`, { path: display });
    }
    let handle: FileHandle;
    try {
      handle = await open(resolved, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (error) {
      throw openFailure(error, display);
    }
    try {
      const info = await verifyOpened(handle, rootReal, resolved, display);
      const length = Math.max(0, Math.min(options.maxBytes, info.size - options.offset));
      const bytes = Buffer.alloc(length);
      const { bytesRead } = length === 0 ? { bytesRead: 0 } : await handle.read(bytes, 0, length, options.offset);
      return { path: display, bytes: bytes.subarray(0, bytesRead), size: info.size };
    } finally {
      await handle.close();
    }
  }

  /**
   * Creates or replaces a regular file inside the root with `content`, creating parent folders
   * inside the root. Never writes through a symlink, never truncates before the file is verified.
   */
  async write(
    relativePath: string,
    content: Buffer,
    options: { maxBytes: number },
  ): Promise<{ path: string; created: boolean }> {
    const display = checkRelativePath(relativePath);
    if (display === '.')
      throw sandboxViolation('not-a-regular-file', 'The workspace root is not a file', { path: display });
    if (content.length > options.maxBytes) {
      throw sandboxViolation(
        'too-large',
        `Refused to write ${content.length} bytes to \`${display}\`: the limit is ${options.maxBytes}`,
        {
          path: display,
          bytes: content.length,
          limit: options.maxBytes,
        },
      );
    }
    const rootReal = await this.#rootReal;
    const parent = await this.#ensureParent(rootReal, display);
    const path = join(parent, basename(display));
    const flags = constants.O_WRONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
    let handle: FileHandle;
    let created = false;
    try {
      handle = await open(path, flags);
    } catch (error) {
      if (errnoOf(error) !== 'ENOENT') throw openFailure(error, display);
      try {
        handle = await open(path, flags | constants.O_CREAT | constants.O_EXCL, 0o644);
        created = true;
      } catch (createError) {
        throw errnoOf(createError) === 'EEXIST'
          ? sandboxViolation('raced', `\`${display}\` appeared while it was being created; try again`, {
              path: display,
            })
          : openFailure(createError, display);
      }
    }
    try {
      await verifyOpened(handle, rootReal, path, display);
      await handle.truncate(0);
      await handle.write(content, 0, content.length, 0);
      return { path: display, created };
    } finally {
      await handle.close();
    }
  }

  /** The real parent folder of `display`, created inside the root if missing. */
  async #ensureParent(rootReal: string, display: string): Promise<string> {
    const parentDisplay = dirname(display);
    const wanted = join(rootReal, parentDisplay);
    // The deepest existing ancestor must resolve inside before anything is created under it.
    let existing = wanted;
    while (!(await realpathIfExists(existing))) existing = dirname(existing);
    const existingReal = (await realpathIfExists(existing)) as string;
    if (!isInside(rootReal, existingReal)) {
      throw sandboxViolation('symlink-escape', `A parent of \`${display}\` resolves outside the workspace`, {
        path: display,
      });
    }
    if (existing !== wanted) await mkdir(wanted, { recursive: true });
    const parentReal = (await realpathIfExists(wanted)) as string | undefined;
    if (parentReal === undefined || !isInside(rootReal, parentReal)) {
      throw sandboxViolation('symlink-escape', `A parent of \`${display}\` resolves outside the workspace`, {
        path: display,
      });
    }
    const info = await stat(parentReal);
    if (!info.isDirectory()) {
      throw sandboxViolation('not-a-directory', `\`${parentDisplay}\` is not a directory`, { path: display });
    }
    return parentReal;
  }
}
