import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClawError, type Logger } from '@clawfleet/protocol';
import { rejectionOf } from '@clawfleet/protocol/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createTestToolContext } from './testing/index.ts';
import { defineTool } from './tool.ts';
import { MAX_OBSERVATION_CHARS, ToolRegistry } from './tool-registry.ts';

const directory = mkdtempSync(join(tmpdir(), 'claw-registry-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));
const context = createTestToolContext({ workspaceDir: directory, sharedDir: directory });

const calls: unknown[] = [];
const echo = defineTool({
  name: 'test.echo',
  description: 'Repeats its text',
  argsSchema: z.object({ text: z.string().max(10) }).strict(),
  sideEffect: false,
  run: async (args) => {
    calls.push(args);
    return { output: { text: args.text }, text: args.text };
  },
});
const shout = defineTool({
  name: 'test.shout',
  description: 'Repeats its text loudly',
  argsSchema: z.object({ text: z.string() }),
  sideEffect: true,
  needsApproval: true,
  run: async (args) => ({ output: null, text: args.text.toUpperCase().repeat(3_000) }),
});
const broken = defineTool({
  name: 'test.broken',
  description: 'Always throws a plain Error',
  argsSchema: z.object({}),
  sideEffect: false,
  run: async () => {
    throw new Error('disk on fire');
  },
});
const registry = new ToolRegistry([echo, shout, broken]);

describe('ToolRegistry', () => {
  it('refuses an allowlist that names a tool that does not exist, listing it', () => {
    let error: unknown;
    try {
      registry.forAgent('DevClaw', ['test.echo', 'fly']);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ClawError);
    expect((error as ClawError).code).toBe('TOOL_UNKNOWN');
    expect((error as ClawError).details.unknown).toEqual(['fly']);
  });

  it('refuses two tools with one name and names that are not snake_case', () => {
    expect(() => new ToolRegistry([echo, echo])).toThrow(/registered twice/);
    expect(() => new ToolRegistry([{ ...echo, name: 'Echo-Tool' }])).toThrow(/area.verb/);
  });

  it('gives an agent exactly its allowlist and describes each tool with a JSON schema', () => {
    const toolbox = registry.forAgent('DevClaw', ['test.shout', 'test.echo']);
    expect(toolbox.names).toEqual(['test.echo', 'test.shout']);
    const [first, second] = toolbox.describe();
    expect(first?.name).toBe('test.echo');
    expect(first?.parameters).toMatchObject({
      type: 'object',
      properties: { text: { type: 'string', maxLength: 10 } },
    });
    expect(second).toMatchObject({ name: 'test.shout', sideEffect: true, needsApproval: true });
  });
});

describe('AgentToolbox.run', () => {
  const toolbox = registry.forAgent('UXClaw', ['test.echo', 'test.shout', 'test.broken']);
  const narrow = registry.forAgent('OpsClaw', ['test.echo']);

  it('runs an allowed call with parsed arguments', async () => {
    calls.length = 0;
    const result = await toolbox.run('test.echo', { text: 'hi' }, context);
    expect(result).toEqual({ output: { text: 'hi' }, text: 'hi' });
    expect(calls).toEqual([{ text: 'hi' }]);
  });

  it('refuses a tool that exists but is not on the allowlist, before running it', async () => {
    const error = await rejectionOf(narrow.run('test.shout', { text: 'x' }, context));
    expect(error.code).toBe('TOOL_NOT_ALLOWED');
    expect(error.details).toMatchObject({ agent: 'OpsClaw', tool: 'test.shout' });
  });

  it('refuses a tool that does not exist with another code than one that is not allowed', async () => {
    expect((await rejectionOf(narrow.run('shell.rm_rf', {}, context))).code).toBe('TOOL_UNKNOWN');
  });

  it('refuses arguments that fail the schema, naming the field, and never calls run', async () => {
    calls.length = 0;
    const tooLong = await rejectionOf(toolbox.run('test.echo', { text: 'far too long for it' }, context));
    expect(tooLong.code).toBe('TOOL_ARGS_INVALID');
    expect(tooLong.message).toContain('`text`');
    const extra = await rejectionOf(toolbox.run('test.echo', { text: 'ok', sudo: true }, context));
    expect(extra.code).toBe('TOOL_ARGS_INVALID');
    expect((await rejectionOf(toolbox.run('test.echo', 'text', context))).code).toBe('TOOL_ARGS_INVALID');
    expect(calls).toEqual([]);
  });

  it('turns a plain throw into TOOL_FAILED with the message, and logs every refusal', async () => {
    const warnings: Record<string, unknown>[] = [];
    const logger: Logger = {
      debug: () => {},
      info: () => {},
      error: () => {},
      warn: (object) => warnings.push(object),
      child: () => logger,
    };
    const failed = await rejectionOf(toolbox.run('test.broken', {}, { ...context, logger }));
    expect(failed.code).toBe('TOOL_FAILED');
    expect(failed.message).toBe('disk on fire');
    await rejectionOf(narrow.run('test.shout', { text: 'x' }, { ...context, logger }));
    expect(warnings.map((warning) => warning.code)).toEqual(['TOOL_FAILED', 'TOOL_NOT_ALLOWED']);
  });

  it('cuts the observation for the model but keeps the output whole', async () => {
    const result = await toolbox.run('test.shout', { text: 'ab' }, context);
    expect(result.text.length).toBeLessThan(MAX_OBSERVATION_CHARS + 100);
    expect(result.text).toMatch(/\[\.\.\. 2000 more characters\]$/);
  });

  it('does not start a call once the cycle is aborted', async () => {
    calls.length = 0;
    const controller = new AbortController();
    controller.abort();
    const error = await rejectionOf(toolbox.run('test.echo', { text: 'x' }, { ...context, signal: controller.signal }));
    expect(error.code).toBe('CANCELLED');
    expect(calls).toEqual([]);
  });
});
