export * from './inference-client.ts';
