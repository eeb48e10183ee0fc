import { existsSync, mkdtempSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rejectionOf } from '@clawfleet/protocol/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestToolContext } from '../testing/index.ts';
import { ToolRegistry } from '../tool-registry.ts';
import { createCommandTool } from './command-tool.ts';

const base = realpathSync(mkdtempSync(join(tmpdir(), 'claw-commands-')));
afterAll(() => rmSync(base, { recursive: true, force: true }));
const context = createTestToolContext({ sharedDir: base, workspaceDir: base });
const searchPath = process.env.PATH ?? '/usr/bin:/bin';
const tool = createCommandTool({
  commands: { node: [], git: ['status', 'log'] },
  searchPath,
  outputCapBytes: 64 * 1024,
  killGraceMs: 200,
});
const toolbox = new ToolRegistry([tool]).forAgent('DevClaw', ['command.run']);

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitUntilDead(pid: number): Promise<boolean> {
  for (let attempt = 0; attempt < 200 && isAlive(pid); attempt += 1) await new Promise((r) => setTimeout(r, 25));
  return !isAlive(pid);
}

describe('command.run', () => {
  it('runs an allowed executable in the own workspace and returns its output and exit code', async () => {
    const result = await toolbox.run(
      'command.run',
      { command: 'node', args: ['-e', 'console.log(process.cwd()); process.exitCode = 3'] },
      context,
    );
    expect(result.output).toMatchObject({ exitCode: 3, stdout: `${base}\n` });
    expect(result.text).toContain('exit code 3');
  });

  it('gives the command a scrubbed environment: none of the parent variables, HOME in the workspace', async () => {
    process.env.CLAW_TEST_SECRET = 'token-123';
    try {
      const result = await toolbox.run(
        'command.run',
        { command: 'node', args: ['-e', 'process.stdout.write(JSON.stringify(process.env))'] },
        context,
      );
      const environment = JSON.parse((result.output as { stdout: string }).stdout) as Record<string, string>;
      expect(environment.CLAW_TEST_SECRET).toBeUndefined();
      expect(environment.HOME).toBe(base);
      expect(Object.keys(environment).sort()).toEqual(['CI', 'HOME', 'LANG', 'NO_COLOR', 'PATH', 'TMPDIR']);
    } finally {
      delete process.env.CLAW_TEST_SECRET;
    }
  });

  it('refuses an executable that is not on the list, however it is written', async () => {
    for (const command of ['bash', 'sh', 'rm', '/usr/bin/node', './node', 'node; touch pwned', 'node && id']) {
      const error = await rejectionOf(toolbox.run('command.run', { command, args: [] }, context));
      expect(error.code, command).toBe('COMMAND_NOT_ALLOWED');
    }
    expect(existsSync(join(base, 'pwned'))).toBe(false);
  });

  it('refuses a first argument the list does not allow', async () => {
    const error = await rejectionOf(toolbox.run('command.run', { command: 'git', args: ['push', '--force'] }, context));
    expect(error.code).toBe('COMMAND_NOT_ALLOWED');
    expect(error.message).toContain('status, log');
  });

  it('passes shell metacharacters through verbatim: nothing is interpreted', async () => {
    const hostile = [
      '; touch pwned1',
      '$(touch pwned2)',
      '`touch pwned3`',
      '| touch pwned4',
      '> pwned5',
      '&& touch pwned6',
    ];
    const result = await toolbox.run(
      'command.run',
      { command: 'node', args: ['-e', 'process.stdout.write(JSON.stringify(process.argv.slice(1)))', ...hostile] },
      context,
    );
    expect(JSON.parse((result.output as { stdout: string }).stdout)).toEqual(hostile);
    expect(readdirSync(base).filter((name) => name.startsWith('pwned'))).toEqual([]);
  });

  it('kills a command that floods its output, with its whole process group', async () => {
    const flood = `
      const { spawn } = require('node:child_process');
      const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
      process.stderr.write('grandchild ' + child.pid + '\\n');
      for (;;) process.stdout.write('x'.repeat(65536));`;
    const error = await rejectionOf(toolbox.run('command.run', { command: 'node', args: ['-e', flood] }, context));
    expect(error.code).toBe('COMMAND_OUTPUT_LIMIT');
    const grandchild = Number(/grandchild (\d+)/.exec(String(error.details.stderrHead))?.[1]);
    expect(grandchild).toBeGreaterThan(0);
    expect(await waitUntilDead(grandchild)).toBe(true);
  });

  it('kills a command that never ends, even one that ignores SIGTERM, and its children', async () => {
    const stubborn = `
      const { spawn } = require('node:child_process');
      process.on('SIGTERM', () => {});
      const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
      process.stdout.write('grandchild ' + child.pid + '\\n');
      setInterval(() => {}, 1000);`;
    const error = await rejectionOf(
      toolbox.run('command.run', { command: 'node', args: ['-e', stubborn], timeoutSeconds: 1 }, context),
    );
    expect(error.code).toBe('COMMAND_TIMEOUT');
    const grandchild = Number(/grandchild (\d+)/.exec(String(error.details.stdoutHead))?.[1]);
    expect(await waitUntilDead(grandchild)).toBe(true);
  });

  it('stops the command when the cycle is aborted', async () => {
    const controller = new AbortController();
    const running = toolbox.run(
      'command.run',
      { command: 'node', args: ['-e', 'setInterval(() => {}, 1000)'] },
      { ...context, signal: controller.signal },
    );
    setTimeout(() => controller.abort(), 100);
    expect((await rejectionOf(running)).code).toBe('CANCELLED');
  });

  it('refuses a command list naming a path or a missing program when the tool is built', () => {
    expect(() => createCommandTool({ commands: { '/bin/sh': [] }, searchPath })).toThrow(/bare executable name/);
    expect(() => createCommandTool({ commands: { 'no-such-program-claw': [] }, searchPath })).toThrow(
      /not an executable/,
    );
  });
});
