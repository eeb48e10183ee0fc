import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClawError, parseOrThrow } from '@clawfleet/protocol';
import { type AgentDefinition, agentJsonSchema } from './agent-definition.ts';

/**
 * The folder holding the five agents this package ships: `packages/agents/<Name>/`. From the sources
 * this module is `packages/agents/src/load-agents.ts`; in a bundle `npm run build` makes, it is
 * inlined into `dist/runtime/<entry>.js`, whose URL `import.meta.url` then is, two levels below the
 * repository root (containers keep that layout, or set CLAW_AGENTS_DIR).
 */
export const BUILT_IN_AGENTS_DIRECTORY: string = resolve(
  dirname(fileURLToPath(import.meta.url)),
  import.meta.url.endsWith('.ts') ? '..' : '../../packages/agents',
);

/** Files every agent folder must hold. */
export const IDENTITY_FILES = ['IDENTITY.md', 'SOUL.md', 'TOOLS.md'] as const;
const MAX_IDENTITY_FILE_BYTES = 64 * 1024;

function readText(path: string, what: string): string {
  let size: number;
  try {
    size = statSync(path).size;
  } catch (error) {
    throw new ClawError('CONFIG_INVALID', `Agent definition ${what} is missing: ${path}`, {
      cause: error,
      details: { path },
    });
  }
  if (size > MAX_IDENTITY_FILE_BYTES) {
    throw new ClawError(
      'CONFIG_INVALID',
      `Agent definition ${what} is ${size} bytes, above ${MAX_IDENTITY_FILE_BYTES}`,
      {
        details: { path },
      },
    );
  }
  const text = readFileSync(path, 'utf8');
  if (text.trim().length === 0) {
    throw new ClawError('CONFIG_INVALID', `Agent definition ${what} is empty: ${path}`, { details: { path } });
  }
  return text;
}

/**
 * Loads one agent folder: `agent.json` checked against its schema (an error names the file and the
 * field), and its three identity files. The folder name must equal the agent's `name`.
 */
export function loadAgentDefinition(directory: string): AgentDefinition {
  const jsonPath = join(directory, 'agent.json');
  const raw = readText(jsonPath, 'agent.json');
  let parsedJson: unknown;
  try {
    parsedJson = JSON.parse(raw);
  } catch (error) {
    throw new ClawError('CONFIG_INVALID', `${jsonPath} is not valid JSON: ${(error as Error).message}`, {
      cause: error,
      details: { path: jsonPath },
    });
  }
  const json = parseOrThrow(agentJsonSchema, parsedJson, 'CONFIG_INVALID', `agent definition ${jsonPath}`);
  const folderName = directory.split(/[\\/]/).filter(Boolean).at(-1);
  if (folderName !== json.name) {
    throw new ClawError(
      'CONFIG_INVALID',
      `Invalid agent definition ${jsonPath}: \`name\` is ${json.name} but the folder is ${folderName}; they must match`,
      { details: { path: jsonPath } },
    );
  }
  for (const tool of json.approvalRequiredFor) {
    if (!json.tools.includes(tool)) {
      throw new ClawError(
        'CONFIG_INVALID',
        `Invalid agent definition ${jsonPath}: \`approvalRequiredFor\` names ${tool}, which is not in \`tools\``,
        { details: { path: jsonPath } },
      );
    }
  }
  for (const hook of json.hooks) {
    if (hook.check.kind === 'tool' && !json.tools.includes(hook.check.tool)) {
      throw new ClawError(
        'CONFIG_INVALID',
        `Invalid agent definition ${jsonPath}: hook ${hook.name} runs ${hook.check.tool}, which is not in \`tools\``,
        { details: { path: jsonPath } },
      );
    }
  }
  if (new Set(json.tools).size !== json.tools.length) {
    throw new ClawError('CONFIG_INVALID', `Invalid agent definition ${jsonPath}: \`tools\` lists a tool twice`, {
      details: { path: jsonPath },
    });
  }
  return Object.freeze({
    ...json,
    directory,
    identity: readText(join(directory, 'IDENTITY.md'), 'IDENTITY.md'),
    soul: readText(join(directory, 'SOUL.md'), 'SOUL.md'),
    toolsGuide: readText(join(directory, 'TOOLS.md'), 'TOOLS.md'),
  });
}

/** Every agent folder (a folder holding an `agent.json`) under `directory`, sorted by name. */
export function loadAgentDefinitions(directory: string = BUILT_IN_AGENTS_DIRECTORY): AgentDefinition[] {
  const folders = readdirSync(directory, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && entry.name !== 'src' && entry.name !== 'node_modules')
    .filter((entry) => {
      try {
        return statSync(join(directory, entry.name, 'agent.json')).isFile();
      } catch {
        return false;
      }
    })
    .map((entry) => entry.name)
    .sort();
  if (folders.length === 0) {
    throw new ClawError('CONFIG_INVALID', `No agent folders (with an agent.json) under ${directory}`, {
      details: { path: directory },
    });
  }
  return folders.map((name) => loadAgentDefinition(join(directory, name)));
}

/** One agent by name from `directory`; CONFIG_INVALID naming the known agents when it is not there. */
export function loadAgent(name: string, directory: string = BUILT_IN_AGENTS_DIRECTORY): AgentDefinition {
  const all = loadAgentDefinitions(directory);
  const found = all.find((definition) => definition.name === name);
  if (found === undefined) {
    throw new ClawError(
      'CONFIG_INVALID',
      `No agent named ${name} under ${directory}; known: ${all.map((definition) => definition.name).join(', ')}`,
      { details: { path: directory } },
    );
  }
  return found;
}
