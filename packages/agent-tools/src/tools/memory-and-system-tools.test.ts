import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClawError } from '@clawfleet/protocol';
import { rejectionOf } from '@clawfleet/protocol/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestToolContext } from '../testing/index.ts';
import type { ToolMemory } from '../tool.ts';
import { ToolRegistry } from '../tool-registry.ts';
import { createMemoryTools } from './memory-tools.ts';
import { createSystemTools } from './system-tools.ts';

const directory = mkdtempSync(join(tmpdir(), 'claw-memory-tools-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));
const registry = new ToolRegistry([...createMemoryTools(), ...createSystemTools()]);

describe('memory tools', () => {
  const calls: unknown[] = [];
  const memory: ToolMemory = {
    search: async (query, options) => {
      calls.push(['search', query, options.limit]);
      return [{ id: 7, text: 'the build needs node 20', tier: 'daily', scope: 'private', score: 0.9 }];
    },
    writeNote: async (note) => {
      calls.push(['note', note]);
      return { id: 8 };
    },
    share: async (id) => {
      calls.push(['share', id]);
      if (id === 99) throw new ClawError('REDUCER_REJECTED', 'Memory 99 belongs to LeadClaw');
    },
  };
  const context = createTestToolContext({ sharedDir: directory, workspaceDir: directory, memory });
  const tools = registry.forAgent('DevClaw', ['memory.search', 'memory.note', 'memory.share']);

  it('searches with a default limit and shows ids the model can cite', async () => {
    const result = await tools.run('memory.search', { query: 'build' }, context);
    expect(result.text).toBe('[memory 7, daily, private] the build needs node 20');
    expect(calls.at(-1)).toEqual(['search', 'build', 5]);
  });

  it('writes a note with defaults, refusing an importance outside 0-1 before calling memory', async () => {
    await tools.run('memory.note', { text: 'remember this' }, context);
    expect(calls.at(-1)).toEqual(['note', { text: 'remember this', importance: 0.5, tags: [] }]);
    const before = calls.length;
    expect((await rejectionOf(tools.run('memory.note', { text: 'x', importance: 5 }, context))).code).toBe(
      'TOOL_ARGS_INVALID',
    );
    expect(calls.length).toBe(before);
  });

  it("passes the database's refusal to share another agent's entry back to the model", async () => {
    expect((await rejectionOf(tools.run('memory.share', { entryId: 99 }, context))).code).toBe('REDUCER_REJECTED');
  });
});

describe('system.health', () => {
  const tools = registry.forAgent('OpsClaw', ['system.health']);

  it('reports load, memory, disk and the inference pool', async () => {
    const context = createTestToolContext({
      sharedDir: directory,
      workspaceDir: directory,
      system: { inferenceStatus: async () => ({ queued: 2, running: 1 }) },
    });
    const result = await tools.run('system.health', {}, context);
    const output = result.output as { load: { cores: number }; disk: { freeMiB: number }; inference: unknown };
    expect(output.load.cores).toBeGreaterThan(0);
    expect(output.disk.freeMiB).toBeGreaterThan(0);
    expect(output.inference).toEqual({ queued: 2, running: 1 });
  });

  it('still reports the machine when the orchestrator cannot answer, saying why', async () => {
    const context = createTestToolContext({
      sharedDir: directory,
      workspaceDir: directory,
      system: {
        inferenceStatus: async () => {
          throw new ClawError('CONNECTION_CLOSED', 'gone');
        },
      },
    });
    const result = await tools.run('system.health', {}, context);
    expect((result.output as { inference: unknown }).inference).toEqual({
      error: 'CONNECTION_CLOSED',
      message: 'gone',
    });
  });
});
