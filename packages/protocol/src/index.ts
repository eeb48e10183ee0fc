export * from './codec.ts';
export * from './errors.ts';
export * from './frames.ts';
export * from './logger.ts';
export * from './methods/bus.ts';
export * from './methods/inference.ts';
export * from './parse-or-throw.ts';
export * from './schema-fields.ts';
