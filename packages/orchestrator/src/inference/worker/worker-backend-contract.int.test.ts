import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureTinyModel } from '@clawfleet/tiny-model';
import { describeInferenceBackendContract } from '../../testing/describe-inference-backend-contract.ts';
import { WorkerBackend } from './worker-backend.ts';

describeInferenceBackendContract('WorkerBackend (llama.cpp worker, generated tiny model)', async () => {
  const path = await ensureTinyModel(join(tmpdir(), 'clawfleet-test-models'));
  const backend = await WorkerBackend.start({ gpu: false, maxThreads: 2, contextThreads: 1 });
  return { backend, model: { id: 'tiny', path, contextSize: 2048, slots: 2, gpuLayers: 0 } };
});
