import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createToolRegistry, TOOL_NAMES, type ToolName } from '@clawfleet/agent-tools';
import { createTestToolContext } from '@clawfleet/agent-tools/testing';
import { loadAgentDefinitions } from '@clawfleet/agents';
import { rejectionOf } from '@clawfleet/protocol/testing';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * The five built-in agents against the real tool registry: every allowlist names real tools, and
 * every tool off an agent's list is refused before it runs (the test context's bus, memory and
 * system views throw on any use, so a refusal that let the call through would fail differently).
 */
const directory = mkdtempSync(join(tmpdir(), 'claw-allowlists-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));
const agents = loadAgentDefinitions();
const byName = new Map(agents.map((agent) => [agent.name, agent]));

function toolboxOf(name: string) {
  const agent = byName.get(name);
  if (agent === undefined) throw new Error(`no agent ${name}`);
  const registry = createToolRegistry({
    commands: { commands: agent.commands, searchPath: process.env.PATH ?? '/usr/bin:/bin' },
  });
  return registry.forAgent(agent.name, agent.tools);
}

/** What each role must have and must not have, from the issue: who plans, who writes, who runs. */
const ROLES: Record<string, { has: ToolName[]; lacks: ToolName[] }> = {
  LeadClaw: {
    has: ['task.create', 'task.hand_off', 'plan.decide', 'message.send'],
    lacks: ['files.write', 'files.patch', 'command.run', 'system.health'],
  },
  DevClaw: {
    has: ['files.write', 'files.patch', 'command.run'],
    lacks: ['task.create', 'plan.decide', 'system.health'],
  },
  UXClaw: {
    has: ['files.read', 'files.search', 'files.write'],
    lacks: ['command.run', 'plan.decide', 'task.create', 'system.health'],
  },
  OpsClaw: {
    has: ['system.health', 'attention.request'],
    lacks: ['command.run', 'files.write', 'files.patch', 'task.create', 'plan.decide'],
  },
  ScribeClaw: {
    has: ['files.write', 'files.patch', 'memory.note'],
    lacks: ['command.run', 'task.create', 'plan.decide', 'system.health'],
  },
};

describe('the five allowlists', () => {
  it('are five, differ from each other, and name only tools that exist', () => {
    expect(agents.map((agent) => agent.name).sort()).toEqual(Object.keys(ROLES).sort());
    expect(new Set(agents.map((agent) => [...agent.tools].sort().join(','))).size).toBe(5);
    for (const agent of agents) expect(() => toolboxOf(agent.name), agent.name).not.toThrow();
  });

  for (const [name, role] of Object.entries(ROLES)) {
    it(`${name}: has ${role.has.join(', ')}; every other tool is refused with TOOL_NOT_ALLOWED`, async () => {
      const toolbox = toolboxOf(name);
      for (const tool of role.has) expect(toolbox.has(tool), tool).toBe(true);
      for (const tool of role.lacks) expect(toolbox.has(tool), tool).toBe(false);
      const context = createTestToolContext({ agent: name, sharedDir: directory, workspaceDir: directory });
      for (const tool of TOOL_NAMES.filter((candidate) => !toolbox.has(candidate))) {
        const error = await rejectionOf(toolbox.run(tool, {}, context));
        expect(error.code, `${name} ${tool}`).toBe('TOOL_NOT_ALLOWED');
      }
    });
  }

  it('only DevClaw has a command list, and its commands are bare names resolved on PATH', () => {
    expect(agents.filter((agent) => Object.keys(agent.commands).length > 0).map((agent) => agent.name)).toEqual([
      'DevClaw',
    ]);
  });
});
