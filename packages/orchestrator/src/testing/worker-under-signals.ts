/**
 * Fixture of `worker-signals.int.test.ts`: stands in for the orchestrator. Starts a WorkerBackend,
 * loads the model given as argv[2], starts a long generation and prints `generating <workerPid>`
 * once text arrives. On SIGINT or SIGTERM it does what the orchestrator's shutdown does: no more
 * restarts, wait for the generation, then dispose; it prints the generation's outcome as JSON.
 */
import { ClawError } from '@clawfleet/protocol';
import { WorkerBackend } from '../inference/worker/worker-backend.ts';

const modelPath = process.argv[2] as string;
const backend = await WorkerBackend.start({ gpu: false, maxThreads: 1 });
await backend.loadModel({ id: 'tiny', path: modelPath, contextSize: 2048, slots: 1, gpuLayers: 0 });
let announced = false;
const generation = backend
  .generate(
    {
      modelId: 'tiny',
      slot: 0,
      prompt: 'Write for a long time.',
      sampling: { maxTokens: 1800, temperature: 1, seed: 5 },
      // The grammar rules out an early end of sequence: the generation outlives the signal.
      jsonSchema: { type: 'array', items: { type: 'string', minLength: 40, maxLength: 40 }, minItems: 40 },
    },
    {
      onDelta: () => {
        if (announced) return;
        announced = true;
        process.stdout.write(`generating ${backend.workerPid}\n`);
      },
    },
  )
  .then(
    (result) => ({ stopReason: result.stopReason, tokensOut: result.tokensOut }),
    (error: unknown) => ({ error: ClawError.from(error).code }),
  );

const stop = async (signal: string): Promise<void> => {
  backend.beginShutdown();
  const outcome = await generation;
  process.stdout.write(`${JSON.stringify({ signal, ...outcome, restarts: backend.restarts })}\n`);
  await backend.dispose();
  process.exit(0);
};
process.once('SIGINT', () => void stop('SIGINT'));
process.once('SIGTERM', () => void stop('SIGTERM'));
