export * from './tool-context.ts';
