export {};
export * from './service/index.ts';
