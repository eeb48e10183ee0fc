import { Writable } from 'node:stream';
import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { EXIT_CODES, exitCodeFor } from './errors/exit-codes.ts';
import { parseSince } from './output/format.ts';
import { colorEnabled, toJson } from './output/output.ts';
import { createProgram } from './program.ts';

function sink(): Writable & { text: string; isTTY?: boolean } {
  const stream = new Writable({
    write(chunk, _encoding, done) {
      stream.text += String(chunk);
      done();
    },
  }) as Writable & { text: string };
  stream.text = '';
  return stream;
}

async function parse(args: string[]): Promise<{ error: unknown; stdout: string; stderr: string }> {
  const stdout = sink();
  const stderr = sink();
  const program = createProgram({ streams: { stdout, stderr }, environment: {}, workingDirectory: '/nonexistent' });
  try {
    await program.parseAsync(args, { from: 'user' });
    return { error: undefined, stdout: stdout.text, stderr: stderr.text };
  } catch (error) {
    return { error, stdout: stdout.text, stderr: stderr.text };
  }
}

describe('the claw command tree', () => {
  it('gives every command --help, and every read command --json', async () => {
    const program = createProgram({
      streams: { stdout: sink(), stderr: sink() },
      environment: {},
      workingDirectory: '/',
    });
    const all = (command: typeof program): (typeof program)[] =>
      command.commands.flatMap((child) => [child, ...all(child)]);
    const reads = [
      'status',
      'tasks',
      'task',
      'messages',
      'reflections',
      'memory',
      'attention',
      'plans',
      'usage',
      'sql',
      'doctor',
      'stimulus',
      'agents',
    ];
    for (const command of all(program)) {
      const help = await parse([...pathOf(command), '--help']);
      expect(help.error).toMatchObject({ exitCode: 0 });
      expect(help.stdout).toContain(`Usage: claw ${pathOf(command).join(' ')}`);
      if (reads.includes(command.name())) expect(command.options.map((option) => option.long)).toContain('--json');
    }
  });

  it('answers an unknown command with one line and a suggestion', async () => {
    const result = await parse(['stauts']);
    expect(result.error).toBeInstanceOf(CommanderError);
    expect(result.stderr).toBe("claw: unknown command 'stauts' (Did you mean status?)\n");
  });

  it('refuses bad option values before doing anything', async () => {
    const result = await parse(['stimulus', 'hello', '--priority', '10']);
    expect(result.stderr).toBe(
      "claw: option '--priority <p>' argument '10' is invalid. expected an integer 0-9, got `10`\n",
    );
    expect((await parse(['tasks', '--state', 'done'])).stderr).toMatch(/Allowed choices are blocked, queued/);
  });
});

function pathOf(command: { name(): string; parent: unknown }): string[] {
  const names: string[] = [];
  let current: { name(): string; parent: unknown } | null = command;
  while (current && (current as { parent: unknown }).parent) {
    names.unshift(current.name());
    current = current.parent as typeof current;
  }
  return names;
}

describe('exit codes', () => {
  it('maps each error class to its documented code', () => {
    expect(exitCodeFor('INVALID_PARAMS')).toBe(EXIT_CODES.usage);
    expect(exitCodeFor('IMPORT_INVALID')).toBe(EXIT_CODES.usage);
    expect(exitCodeFor('CONNECT_FAILED')).toBe(EXIT_CODES.notRunning);
    expect(exitCodeFor('AUTH_FAILED')).toBe(EXIT_CODES.authentication);
    expect(exitCodeFor('NOT_FOUND')).toBe(EXIT_CODES.notFound);
    expect(exitCodeFor('FORBIDDEN')).toBe(EXIT_CODES.refused);
    expect(exitCodeFor('REDUCER_REJECTED')).toBe(EXIT_CODES.refused);
    expect(exitCodeFor('TIMEOUT')).toBe(EXIT_CODES.timeout);
    expect(exitCodeFor('INTERNAL')).toBe(EXIT_CODES.failure);
  });
});

describe('output', () => {
  it('uses colour on a terminal only, never with NO_COLOR or --no-color', () => {
    expect(colorEnabled({ isTTY: true }, {}, undefined)).toBe(true);
    expect(colorEnabled({ isTTY: false }, {}, undefined)).toBe(false);
    expect(colorEnabled({ isTTY: true }, { NO_COLOR: '1' }, undefined)).toBe(false);
    expect(colorEnabled({ isTTY: true }, { TERM: 'dumb' }, undefined)).toBe(false);
    expect(colorEnabled({ isTTY: true }, {}, false)).toBe(false);
    expect(colorEnabled({ isTTY: false }, { FORCE_COLOR: '1' }, undefined)).toBe(true);
  });

  it('writes 64-bit ids beyond 2^53 as strings in JSON', () => {
    expect(JSON.parse(toJson({ small: 5n, big: 2n ** 60n }))).toEqual({ small: 5, big: '1152921504606846976' });
  });

  it('reads --since as a date or a duration back from now', () => {
    const now = Date.UTC(2026, 11, 1, 12);
    expect(parseSince('2h', now)).toBe((now - 2 * 3_600_000) * 1000);
    expect(parseSince('2026-12-01T10:00:00Z', now)).toBe(Date.UTC(2026, 11, 1, 10) * 1000);
    expect(parseSince('yesterday-ish', now)).toBeUndefined();
  });
});
