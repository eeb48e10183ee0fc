import { execFileSync } from 'node:child_process';
import {
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rejectionOf } from '@clawfleet/protocol/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestToolContext } from '../testing/index.ts';
import { ToolRegistry } from '../tool-registry.ts';
import { createFileTools } from './file-tools.ts';

// Layout: <base>/shared is the shared workspace, <base>/shared/agents/DevClaw the agent's own;
// <base>/outside holds what no tool may reach.
const base = mkdtempSync(join(tmpdir(), 'claw-files-'));
const sharedDir = join(base, 'shared');
const workspaceDir = join(sharedDir, 'agents', 'DevClaw');
const outside = join(base, 'outside');
const context = createTestToolContext({ sharedDir, workspaceDir });
const toolbox = new ToolRegistry(createFileTools({ maxWriteBytes: 1024, maxReadBytes: 64 })).forAgent('DevClaw', [
  'files.read',
  'files.list',
  'files.search',
  'files.write',
  'files.patch',
]);

beforeAll(() => {
  mkdirSync(workspaceDir, { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret.txt'), 'the secret\n');
  mkdirSync(join(sharedDir, 'docs'));
  writeFileSync(join(sharedDir, 'docs', 'guide.md'), '# Guide\nUse the needle here.\n');
  writeFileSync(join(sharedDir, 'notes.txt'), 'another needle\n');
  writeFileSync(join(sharedDir, 'long.txt'), 'x'.repeat(100));
  symlinkSync(join(outside, 'secret.txt'), join(sharedDir, 'leak.txt'));
  symlinkSync(outside, join(sharedDir, 'outside-dir'));
  symlinkSync(join(sharedDir, 'notes.txt'), join(sharedDir, 'notes-link.txt'));
  symlinkSync(outside, join(workspaceDir, 'escape'));
  symlinkSync(join(outside, 'secret.txt'), join(workspaceDir, 'secret-link.txt'));
  execFileSync('mkfifo', [join(sharedDir, 'pipe')]);
  linkSync(join(outside, 'secret.txt'), join(sharedDir, 'hard.txt'));
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

async function refusal(tool: string, args: unknown) {
  const error = await rejectionOf(toolbox.run(tool, args, context));
  return { code: error.code, rule: error.details.rule, message: error.message };
}

describe('files.read', () => {
  it('reads a file of the shared workspace and pages a long one', async () => {
    const result = await toolbox.run('files.read', { path: 'docs/guide.md' }, context);
    expect(result.text).toBe('# Guide\nUse the needle here.\n');
    const long = await toolbox.run('files.read', { path: 'long.txt', offset: 60 }, context);
    expect(long.output).toMatchObject({ size: 100, offset: 60, truncated: false, text: 'x'.repeat(40) });
    const first = await toolbox.run('files.read', { path: 'long.txt' }, context);
    expect(first.output).toMatchObject({ truncated: true });
  });

  it('follows a symlink that stays inside the workspace', async () => {
    expect((await toolbox.run('files.read', { path: 'notes-link.txt' }, context)).text).toBe('another needle\n');
  });

  it('refuses traversal, absolute paths, NUL, symlinks out, FIFOs and hard links, with the rule', async () => {
    expect(await refusal('files.read', { path: '../outside/secret.txt' })).toMatchObject({
      code: 'SANDBOX_VIOLATION',
      rule: 'path-traversal',
    });
    expect(await refusal('files.read', { path: 'docs/../../outside/secret.txt' })).toMatchObject({
      rule: 'path-traversal',
    });
    expect(await refusal('files.read', { path: join(outside, 'secret.txt') })).toMatchObject({ rule: 'path-absolute' });
    expect(await refusal('files.read', { path: '~/.ssh/id_rsa' })).toMatchObject({ rule: 'path-absolute' });
    expect(await refusal('files.read', { path: 'notes.txt\0.md' })).toMatchObject({ rule: 'path-invalid' });
    expect(await refusal('files.read', { path: 'leak.txt' })).toMatchObject({ rule: 'symlink-escape' });
    expect(await refusal('files.read', { path: 'outside-dir/secret.txt' })).toMatchObject({ rule: 'symlink-escape' });
    expect(await refusal('files.read', { path: 'pipe' })).toMatchObject({ rule: 'not-a-regular-file' });
    expect(await refusal('files.read', { path: 'docs' })).toMatchObject({ rule: 'not-a-regular-file' });
    expect(await refusal('files.read', { path: 'hard.txt' })).toMatchObject({ rule: 'hard-link' });
  });

  it('says NOT_FOUND for a missing file', async () => {
    expect((await refusal('files.read', { path: 'nope.txt' })).code).toBe('NOT_FOUND');
  });
});

describe('files.list and files.search', () => {
  it('lists a folder with kinds, and refuses one outside', async () => {
    const result = await toolbox.run('files.list', { path: '.' }, context);
    const entries = (result.output as { entries: { name: string; kind: string }[] }).entries;
    expect(entries).toContainEqual({ name: 'docs', kind: 'directory', size: 0 });
    expect(entries.find((entry) => entry.name === 'leak.txt')?.kind).toBe('symlink');
    expect(entries.find((entry) => entry.name === 'pipe')?.kind).toBe('other');
    expect(await refusal('files.list', { path: 'outside-dir' })).toMatchObject({ rule: 'symlink-escape' });
  });

  it('finds literal text in the workspace without following links out', async () => {
    writeFileSync(join(outside, 'needle.txt'), 'needle outside\n');
    const result = await toolbox.run('files.search', { text: 'needle' }, context);
    const paths = (result.output as { matches: { path: string; line: number }[] }).matches.map(
      (match) => `${match.path}:${match.line}`,
    );
    expect(paths.sort()).toEqual(['docs/guide.md:2', 'notes.txt:1']);
    // A regular-expression character is matched literally.
    const literal = await toolbox.run('files.search', { text: 'needle.*' }, context);
    expect((literal.output as { matches: unknown[] }).matches).toEqual([]);
  });
});

describe('files.write and files.patch', () => {
  it('writes inside the own workspace, creating folders, and replaces a file', async () => {
    await toolbox.run('files.write', { path: 'src/app.ts', content: 'let a = 1;\n' }, context);
    expect(readFileSync(join(workspaceDir, 'src/app.ts'), 'utf8')).toBe('let a = 1;\n');
    const again = await toolbox.run('files.write', { path: 'src/app.ts', content: 'let a = 2;\n' }, context);
    expect(again.output).toMatchObject({ created: false });
    expect(readFileSync(join(workspaceDir, 'src/app.ts'), 'utf8')).toBe('let a = 2;\n');
  });

  it('cannot write into the shared workspace outside its own folder', async () => {
    expect(await refusal('files.write', { path: '../notes.txt', content: 'x' })).toMatchObject({
      rule: 'path-traversal',
    });
    expect(readFileSync(join(sharedDir, 'notes.txt'), 'utf8')).toBe('another needle\n');
  });

  it('refuses writing through a symlink, into a linked folder out, absolutely, and oversized', async () => {
    expect(await refusal('files.write', { path: 'secret-link.txt', content: 'pwned' })).toMatchObject({
      rule: 'symlink',
    });
    expect(await refusal('files.write', { path: 'escape/new.txt', content: 'pwned' })).toMatchObject({
      rule: 'symlink-escape',
    });
    expect(await refusal('files.write', { path: 'escape/deeper/new.txt', content: 'pwned' })).toMatchObject({
      rule: 'symlink-escape',
    });
    expect(await refusal('files.write', { path: join(outside, 'new.txt'), content: 'pwned' })).toMatchObject({
      rule: 'path-absolute',
    });
    const big = await refusal('files.write', { path: 'big.txt', content: 'y'.repeat(2_000) });
    expect(big).toMatchObject({ code: 'SANDBOX_VIOLATION', rule: 'too-large' });
    expect(big.message).toContain('2000 bytes');
    expect(readFileSync(join(outside, 'secret.txt'), 'utf8')).toBe('the secret\n');
    expect(existsSync(join(outside, 'new.txt'))).toBe(false);
    expect(existsSync(join(outside, 'deeper'))).toBe(false);
    expect(existsSync(join(workspaceDir, 'big.txt'))).toBe(false);
  });

  it('patches exact text once, and changes nothing when an edit does not apply', async () => {
    await toolbox.run('files.write', { path: 'patch.ts', content: 'const a = 1;\nconst b = 1;\n' }, context);
    await toolbox.run('files.patch', { path: 'patch.ts', edits: [{ find: 'a = 1', replace: 'a = 3' }] }, context);
    expect(readFileSync(join(workspaceDir, 'patch.ts'), 'utf8')).toBe('const a = 3;\nconst b = 1;\n');
    const ambiguous = await refusal('files.patch', {
      path: 'patch.ts',
      edits: [
        { find: 'b = 1', replace: 'b = 2' },
        { find: 'const', replace: 'let' },
      ],
    });
    expect(ambiguous).toMatchObject({ code: 'TOOL_FAILED' });
    expect(ambiguous.message).toContain('more than once');
    expect(readFileSync(join(workspaceDir, 'patch.ts'), 'utf8')).toBe('const a = 3;\nconst b = 1;\n');
    expect(
      await refusal('files.patch', { path: 'secret-link.txt', edits: [{ find: 'secret', replace: 'x' }] }),
    ).toMatchObject({
      rule: 'symlink-escape',
    });
  });
});
