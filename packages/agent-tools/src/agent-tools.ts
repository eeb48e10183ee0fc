import { ToolRegistry } from './tool-registry.ts';
import { createBusTools } from './tools/bus-tools.ts';
import { type CommandToolOptions, createCommandTool } from './tools/command-tool.ts';
import { createFileTools, type FileToolOptions } from './tools/file-tools.ts';
import { createMemoryTools } from './tools/memory-tools.ts';
import { createSystemTools } from './tools/system-tools.ts';

/** Every tool name, as agents' allowlists write them. */
export const TOOL_NAMES = [
  'files.read',
  'files.list',
  'files.search',
  'files.write',
  'files.patch',
  'command.run',
  'message.send',
  'task.create',
  'task.hand_off',
  'task.complete',
  'task.fail',
  'attention.request',
  'plan.submit',
  'plan.decide',
  'memory.search',
  'memory.note',
  'memory.share',
  'system.health',
] as const;
export type ToolName = (typeof TOOL_NAMES)[number];

export interface AgentToolsOptions {
  files?: FileToolOptions;
  /** The agent's command list and where to find the programs (`command.run`). */
  commands: CommandToolOptions;
}

/**
 * The registry of every tool, for one agent process: `command.run` is built with that agent's
 * command list. Give the agent its toolbox with `registry.forAgent(name, allowlist)`.
 */
export function createToolRegistry(options: AgentToolsOptions): ToolRegistry {
  return new ToolRegistry([
    ...createFileTools(options.files),
    createCommandTool(options.commands),
    ...createBusTools(),
    ...createMemoryTools(),
    ...createSystemTools(),
  ]);
}
