export * from './delta-stream.ts';
export * from './inference-service.ts';
export * from './inference-service-settings.ts';
export * from './usage-ledger.ts';
