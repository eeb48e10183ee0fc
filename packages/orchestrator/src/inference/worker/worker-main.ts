/**
 * Entry of the inference worker child process (started by WorkerBackend with `fork`). It is the
 * only process that loads llama.cpp, so a model that aborts natively takes down this process and
 * nothing else. argv[2] is the JSON of WorkerStartOptions.
 *
 * The worker exits when its parent goes away (IPC channel disconnect), so it never outlives the
 * orchestrator.
 */
import { ClawError, parseOrThrow } from '@clawfleet/protocol';
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';
import { LlamaEngine } from './llama-engine.ts';
import {
  type ParentMessage,
  parentMessageSchema,
  type WorkerCall,
  type WorkerMessage,
  workerStartOptionsSchema,
} from './worker-messages.ts';

const started = performance.now();

function send(message: WorkerMessage): void {
  // The channel is gone only when the parent is; nothing left to tell.
  if (process.connected) process.send?.(message);
}

function logToStderr(object: Record<string, unknown>): void {
  process.stderr.write(`${JSON.stringify({ component: 'inference-worker', ...object })}\n`);
}

async function main(): Promise<void> {
  if (process.send === undefined) {
    throw new Error('The inference worker must be started with an IPC channel (child_process.fork)');
  }
  const options = parseOrThrow(workerStartOptionsSchema, JSON.parse(process.argv[2] ?? '{}'), 'CONFIG_INVALID');
  const llama = await getLlama({
    gpu: options.gpu,
    build: 'never',
    // Essential: without it llama.cpp oversubscribes the cores and runs 100-500x slower here.
    maxThreads: options.maxThreads,
    logLevel: LlamaLogLevel.error,
    logger: (level, message) => logToStderr({ level, llama: message.trimEnd() }),
  });
  const engine = new LlamaEngine(llama, options.contextThreads);
  const running = new Map<number, AbortController>();

  async function execute(call: WorkerCall, signal: AbortSignal, id: number): Promise<unknown> {
    switch (call.method) {
      case 'estimate-model-memory':
        return engine.estimateModelMemory(call.params);
      case 'load-model':
        return engine.loadModel(call.params, (progress) => send({ type: 'progress', id, progress }));
      case 'unload-model':
        await engine.unloadModel(call.params.modelId);
        return null;
      case 'generate':
        return engine.generate(call.params, signal, (text) => send({ type: 'delta', id, text }));
      case 'embed':
        return engine.embed(call.params.modelId, call.params.texts, signal);
      case 'memory-state':
        return engine.memoryState();
    }
  }

  async function handle(message: ParentMessage): Promise<void> {
    switch (message.type) {
      case 'cancel':
        running.get(message.id)?.abort();
        return;
      case 'shutdown':
        for (const controller of running.values()) controller.abort();
        await engine.dispose();
        process.exit(0);
        return;
      case 'call': {
        const controller = new AbortController();
        running.set(message.id, controller);
        try {
          const result = await execute(message.call, controller.signal, message.id);
          send({ type: 'result', id: message.id, result });
        } catch (error) {
          send({ type: 'error', id: message.id, error: ClawError.from(error).toJSON() });
        } finally {
          running.delete(message.id);
        }
        return;
      }
    }
  }

  process.on('message', (raw: unknown) => {
    // The process boundary: every request is checked here, once; the engine trusts its types.
    let message: ParentMessage;
    try {
      message = parseOrThrow(parentMessageSchema, raw);
    } catch (error) {
      const id = (raw as { id?: unknown } | null)?.id;
      const failure = ClawError.from(error);
      if (typeof id === 'number' && id > 0) send({ type: 'error', id, error: failure.toJSON() });
      else logToStderr({ level: 'warn', msg: `Invalid worker message: ${failure.message}` });
      return;
    }
    void handle(message);
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', startupMs: performance.now() - started, gpu: llama.gpu });
}

main().catch((error: unknown) => {
  logToStderr({ level: 'fatal', msg: error instanceof Error ? error.message : String(error) });
  process.exit(1);
});
