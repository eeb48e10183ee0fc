export * from './host/index.ts';
export * from './service/index.ts';
