export * from './agent-tools.ts';
export type { AllowedCommand, CommandOutcome } from './sandbox/command-runner.ts';
export { checkRelativePath, SandboxedDirectory, type SandboxRule } from './sandbox/workspace-files.ts';
export * from './tool.ts';
export * from './tool-registry.ts';
export type { CommandToolOptions } from './tools/command-tool.ts';
export type { FileToolOptions } from './tools/file-tools.ts';
