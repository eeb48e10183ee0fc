import type { Dirent } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { ClawError } from '@clawfleet/protocol';
import { z } from 'zod';
import { SandboxedDirectory } from '../sandbox/workspace-files.ts';
import { type AnyAgentTool, defineTool, type ToolContext } from '../tool.ts';

export interface FileToolOptions {
  /** Largest read of one call. @default 262144 (256 KiB) */
  maxReadBytes?: number;
  /** Largest file a write or patch may produce. @default 1048576 (1 MiB) */
  maxWriteBytes?: number;
  /** Entries one listing returns. @default 500 */
  maxListEntries?: number;
  /** Files one search opens before it stops. @default 5000 */
  maxSearchFiles?: number;
  /** Files larger than this are skipped by search. @default 1048576 */
  maxSearchFileBytes?: number;
}

const pathField = z.string().min(1).max(1024).describe('Path relative to the workspace, without `..`');
/** Folders a search never enters: large, generated, and never what an agent is looking for. */
const SKIPPED_FOLDERS = new Set(['.git', 'node_modules']);

/**
 * One SandboxedDirectory per root, made on first use: tools get the root from the context, and
 * re-resolving the root's real path for every call would cost a syscall chain per call.
 */
function directories() {
  const cache = new Map<string, SandboxedDirectory>();
  return (root: string): SandboxedDirectory => {
    let directory = cache.get(root);
    if (directory === undefined) {
      directory = new SandboxedDirectory(root);
      cache.set(root, directory);
    }
    return directory;
  };
}

function kindOf(entry: Dirent | { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }): string {
  if (entry.isSymbolicLink()) return 'symlink';
  if (entry.isDirectory()) return 'directory';
  if (entry.isFile()) return 'file';
  return 'other';
}

/** The file tools: read, list and search the shared workspace; write and patch the agent's own. */
export function createFileTools(options: FileToolOptions = {}): AnyAgentTool[] {
  const maxReadBytes = options.maxReadBytes ?? 256 * 1024;
  const maxWriteBytes = options.maxWriteBytes ?? 1024 * 1024;
  const maxListEntries = options.maxListEntries ?? 500;
  const maxSearchFiles = options.maxSearchFiles ?? 5_000;
  const maxSearchFileBytes = options.maxSearchFileBytes ?? 1024 * 1024;
  const at = directories();
  const shared = (context: ToolContext) => at(context.sharedDir);
  const own = (context: ToolContext) => at(context.workspaceDir);

  const read = defineTool({
    name: 'files.read',
    description: `Read a text file of the shared workspace (at most ${maxReadBytes} bytes per call; use offset for more).`,
    argsSchema: z.strictObject({
      path: pathField,
      offset: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
    }),
    sideEffect: false,
    async run(args, context) {
      const offset = args.offset ?? 0;
      const file = await shared(context).read(args.path, { offset, maxBytes: maxReadBytes });
      const text = file.bytes.toString('utf8');
      const truncated = offset + file.bytes.length < file.size;
      return {
        output: { path: file.path, size: file.size, offset, text, truncated },
        text: truncated
          ? `${text}\n[${file.path}: ${file.size} bytes, shown ${offset}-${offset + file.bytes.length}; read on with offset]`
          : text,
      };
    },
  });

  const list = defineTool({
    name: 'files.list',
    description: 'List a folder of the shared workspace: name, kind (file, directory, symlink, other) and size.',
    argsSchema: z.strictObject({ path: pathField.default('.') }),
    sideEffect: false,
    async run(args, context) {
      const folder = await shared(context).directory(args.path);
      const dirents = (await readdir(folder.real, { withFileTypes: true })).sort((a, b) =>
        a.name.localeCompare(b.name),
      );
      const entries: { name: string; kind: string; size: number }[] = [];
      for (const dirent of dirents.slice(0, maxListEntries)) {
        const info = await lstat(join(folder.real, dirent.name)).catch(() => undefined);
        entries.push({ name: dirent.name, kind: kindOf(dirent), size: info?.isFile() ? info.size : 0 });
      }
      const more = dirents.length - entries.length;
      const lines = entries.map(
        (entry) =>
          `${entry.kind === 'directory' ? `${entry.name}/` : entry.name}${entry.kind === 'file' ? ` (${entry.size} B)` : ''}`,
      );
      if (more > 0) lines.push(`[${more} more entries not shown]`);
      return {
        output: { path: folder.display, entries, more },
        text: lines.length === 0 ? `${folder.display} is empty` : lines.join('\n'),
      };
    },
  });

  const search = defineTool({
    name: 'files.search',
    description:
      'Find lines containing a literal text (not a pattern) in the files of the shared workspace, optionally under a folder.',
    argsSchema: z.strictObject({
      text: z.string().min(1).max(200),
      path: pathField.default('.'),
      maxResults: z.number().int().min(1).max(200).default(50),
    }),
    sideEffect: false,
    async run(args, context) {
      const directory = shared(context);
      const start = await directory.directory(args.path);
      const rootReal = await directory.realRoot();
      const matches: { path: string; line: number; text: string }[] = [];
      let filesScanned = 0;
      let stoppedEarly = false;
      // Depth-first walk over real folders; symlinks are never followed, so it cannot leave the root.
      const pending = [start.real];
      walk: while (pending.length > 0) {
        const folder = pending.pop() as string;
        let dirents: Dirent[];
        try {
          dirents = await readdir(folder, { withFileTypes: true });
        } catch {
          continue;
        }
        dirents.sort((a, b) => b.name.localeCompare(a.name));
        for (const dirent of dirents) {
          context.signal.throwIfAborted();
          const path = join(folder, dirent.name);
          if (dirent.isDirectory()) {
            if (!SKIPPED_FOLDERS.has(dirent.name)) pending.push(path);
            continue;
          }
          if (!dirent.isFile()) continue;
          if (filesScanned >= maxSearchFiles || matches.length >= args.maxResults) {
            stoppedEarly = true;
            break walk;
          }
          filesScanned += 1;
          const relativePath = relative(rootReal, path);
          let bytes: Buffer;
          try {
            bytes = (await directory.read(relativePath, { offset: 0, maxBytes: maxSearchFileBytes + 1 })).bytes;
          } catch {
            continue; // refused (link, race) or vanished: a search reports what it can read
          }
          if (bytes.length > maxSearchFileBytes || bytes.includes(0)) continue;
          const lines = bytes.toString('utf8').split('\n');
          for (let index = 0; index < lines.length && matches.length < args.maxResults; index += 1) {
            const line = lines[index] as string;
            if (line.includes(args.text))
              matches.push({ path: relativePath, line: index + 1, text: line.trim().slice(0, 200) });
          }
        }
      }
      const text =
        matches.length === 0
          ? `No line contains ${JSON.stringify(args.text)} (${filesScanned} files searched)`
          : matches.map((match) => `${match.path}:${match.line}: ${match.text}`).join('\n');
      return { output: { matches, filesScanned, stoppedEarly }, text };
    },
  });

  const write = defineTool({
    name: 'files.write',
    description: `Create or replace a file in your own workspace (at most ${maxWriteBytes} bytes). Folders are created as needed.`,
    argsSchema: z.strictObject({ path: pathField, content: z.string() }),
    sideEffect: true,
    async run(args, context) {
      const content = Buffer.from(args.content, 'utf8');
      const written = await own(context).write(args.path, content, { maxBytes: maxWriteBytes });
      context.logger.info({ path: written.path, bytes: content.length, created: written.created }, 'file written');
      return {
        output: { path: written.path, bytes: content.length, created: written.created },
        text: `${written.created ? 'Created' : 'Replaced'} ${written.path} (${content.length} bytes)`,
      };
    },
  });

  const patch = defineTool({
    name: 'files.patch',
    description:
      'Edit a file in your own workspace: each edit replaces one exact text `find` (which must occur exactly once) with `replace`.',
    argsSchema: z.strictObject({
      path: pathField,
      edits: z
        .array(z.strictObject({ find: z.string().min(1), replace: z.string() }))
        .min(1)
        .max(50),
    }),
    sideEffect: true,
    async run(args, context) {
      const directory = own(context);
      const file = await directory.read(args.path, { offset: 0, maxBytes: maxWriteBytes + 1 });
      if (file.size > maxWriteBytes) {
        throw new ClawError('TOOL_FAILED', `\`${file.path}\` is ${file.size} bytes, larger than a patch may handle`);
      }
      let text = file.bytes.toString('utf8');
      for (const [index, edit] of args.edits.entries()) {
        const first = text.indexOf(edit.find);
        if (first === -1) {
          throw new ClawError(
            'TOOL_FAILED',
            `Edit ${index + 1}: the text to find does not occur in ${file.path}; nothing was changed`,
          );
        }
        if (text.indexOf(edit.find, first + 1) !== -1) {
          throw new ClawError(
            'TOOL_FAILED',
            `Edit ${index + 1}: the text to find occurs more than once in ${file.path}; give more context; nothing was changed`,
          );
        }
        text = text.slice(0, first) + edit.replace + text.slice(first + edit.find.length);
      }
      const content = Buffer.from(text, 'utf8');
      await directory.write(file.path, content, { maxBytes: maxWriteBytes });
      context.logger.info({ path: file.path, edits: args.edits.length }, 'file patched');
      return {
        output: { path: file.path, edits: args.edits.length, bytes: content.length },
        text: `Applied ${args.edits.length} edit(s) to ${file.path} (${content.length} bytes)`,
      };
    },
  });

  return [read, list, search, write, patch];
}
