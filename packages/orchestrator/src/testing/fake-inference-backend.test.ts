import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { describeInferenceBackendContract } from './describe-inference-backend-contract.ts';
import { FakeInferenceBackend } from './fake-inference-backend.ts';

const directory = mkdtempSync(join(tmpdir(), 'clawfleet-fake-backend-'));
const path = join(directory, 'fake.gguf');
writeFileSync(path, 'not a real model: the fake backend only checks that the file exists');
afterAll(() => rmSync(directory, { recursive: true, force: true }));

describeInferenceBackendContract('FakeInferenceBackend', async () => ({
  backend: new FakeInferenceBackend(),
  model: { id: 'fake', path, contextSize: 2048, slots: 2, gpuLayers: 0 },
}));
