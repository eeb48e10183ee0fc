import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClawError } from '@clawfleet/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { BUILT_IN_AGENTS_DIRECTORY, loadAgent, loadAgentDefinition, loadAgentDefinitions } from './load-agents.ts';

const temporary: string[] = [];
afterEach(() => {
  for (const directory of temporary.splice(0)) rmSync(directory, { recursive: true, force: true });
});

/** A copy of the built-in agents that a test may break. */
function copyOfAgents(): string {
  const directory = mkdtempSync(join(tmpdir(), 'clawfleet-agents-'));
  temporary.push(directory);
  for (const name of ['LeadClaw', 'DevClaw', 'UXClaw', 'OpsClaw', 'ScribeClaw']) {
    cpSync(join(BUILT_IN_AGENTS_DIRECTORY, name), join(directory, name), { recursive: true });
  }
  return directory;
}

function editJson(path: string, edit: (json: Record<string, unknown>) => void): void {
  const json = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  edit(json);
  writeFileSync(path, JSON.stringify(json));
}

function loadError(directory: string): ClawError {
  try {
    loadAgentDefinition(directory);
  } catch (error) {
    if (error instanceof ClawError) return error;
    throw error;
  }
  throw new Error('expected the load to fail');
}

describe('agent definitions', () => {
  it('ships the five agents, each with its identity files and a distinct allowlist', () => {
    const agents = loadAgentDefinitions();
    expect(agents.map((agent) => agent.name)).toEqual(['DevClaw', 'LeadClaw', 'OpsClaw', 'ScribeClaw', 'UXClaw']);
    for (const agent of agents) {
      expect(agent.identity).toContain(agent.name);
      expect(agent.soul.length).toBeGreaterThan(0);
      expect(agent.toolsGuide.length).toBeGreaterThan(0);
    }
    const allowlists = new Set(agents.map((agent) => [...agent.tools].sort().join(',')));
    expect(allowlists.size).toBe(5);
    // Only LeadClaw approves plans; only DevClaw runs commands; only OpsClaw reads system health.
    expect(agents.filter((agent) => agent.approvesPlans).map((agent) => agent.name)).toEqual(['LeadClaw']);
    expect(agents.filter((agent) => agent.tools.includes('command.run')).map((agent) => agent.name)).toEqual([
      'DevClaw',
    ]);
    expect(agents.filter((agent) => agent.tools.includes('system.health')).map((agent) => agent.name)).toEqual([
      'OpsClaw',
    ]);
  });

  it('loads a sixth agent from a new folder', () => {
    const directory = copyOfAgents();
    cpSync(join(directory, 'ScribeClaw'), join(directory, 'TestClaw'), { recursive: true });
    editJson(join(directory, 'TestClaw', 'agent.json'), (json) => {
      json.name = 'TestClaw';
      json.role = 'testing';
    });
    expect(loadAgentDefinitions(directory).map((agent) => agent.name)).toContain('TestClaw');
    expect(loadAgent('TestClaw', directory).role).toBe('testing');
  });

  it('names the file and the field of a bad value', () => {
    const directory = copyOfAgents();
    editJson(join(directory, 'DevClaw', 'agent.json'), (json) => {
      (json.limits as Record<string, unknown>).stepsPerCycle = 0;
    });
    const error = loadError(join(directory, 'DevClaw'));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toContain(join(directory, 'DevClaw', 'agent.json'));
    expect(error.message).toContain('limits.stepsPerCycle');
    expect(error.message).toContain('Expected `stepsPerCycle` to be an integer 1-100, got `0` (number)');
  });

  it('refuses unknown keys, so a typo does not pass silently', () => {
    const directory = copyOfAgents();
    editJson(join(directory, 'UXClaw', 'agent.json'), (json) => {
      json.tool = ['files.read'];
    });
    expect(loadError(join(directory, 'UXClaw')).message).toMatch(/Unrecognized key.*tool/);
  });

  it('refuses a folder whose name differs from the agent name', () => {
    const directory = copyOfAgents();
    editJson(join(directory, 'OpsClaw', 'agent.json'), (json) => {
      json.name = 'OpsBot';
    });
    expect(loadError(join(directory, 'OpsClaw')).message).toContain('`name` is OpsBot but the folder is OpsClaw');
  });

  it('refuses an approval rule for a tool the agent does not have', () => {
    const directory = copyOfAgents();
    editJson(join(directory, 'UXClaw', 'agent.json'), (json) => {
      json.approvalRequiredFor = ['command.run'];
    });
    expect(loadError(join(directory, 'UXClaw')).message).toContain('names command.run, which is not in `tools`');
  });

  it('refuses a missing or empty identity file and broken JSON', () => {
    const directory = copyOfAgents();
    rmSync(join(directory, 'LeadClaw', 'SOUL.md'));
    expect(loadError(join(directory, 'LeadClaw')).message).toContain('SOUL.md is missing');
    writeFileSync(join(directory, 'DevClaw', 'TOOLS.md'), '  \n');
    expect(loadError(join(directory, 'DevClaw')).message).toContain('TOOLS.md is empty');
    writeFileSync(join(directory, 'UXClaw', 'agent.json'), '{"name": "UXClaw",');
    expect(loadError(join(directory, 'UXClaw')).message).toContain('is not valid JSON');
  });

  it('names the known agents when asked for one that does not exist', () => {
    expect(() => loadAgent('NoClaw')).toThrow(/No agent named NoClaw .* known: DevClaw, LeadClaw/);
  });
});
