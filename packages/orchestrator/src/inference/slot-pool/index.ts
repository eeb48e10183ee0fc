export * from './prefix-affinity.ts';
export * from './priority.ts';
export * from './slot-lease.ts';
export * from './slot-pool.ts';
export * from './slot-pool-options.ts';
