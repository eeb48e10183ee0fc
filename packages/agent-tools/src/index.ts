export * from './tool.ts';
export * from './tool-registry.ts';
