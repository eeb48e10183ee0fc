// The parent-side surface only: nothing here imports node-llama-cpp (that stays in the worker child).

export { hashModelFile } from './model-file-hash.ts';
export { WorkerBackend, type WorkerBackendOptions } from './worker-backend.ts';
