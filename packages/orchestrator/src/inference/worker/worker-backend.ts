import { type ChildProcess, fork } from 'node:child_process';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ClawError, isClawError, type Logger, silentLogger } from '@clawfleet/protocol';
import type {
  GenerateCallbacks,
  GenerateRequest,
  GenerateResult,
  InferenceBackend,
  LoadedModel,
  MemoryState,
  ModelSpec,
} from '../backend.ts';
import {
  embedRequestSchema,
  generateRequestSchema,
  modelIdSchema,
  modelSpecSchema,
  parseOrThrow,
} from './request-schemas.ts';
import {
  type WorkerCall,
  type WorkerMessage,
  type WorkerMethod,
  type WorkerStartOptions,
  workerMessageSchema,
  workerResultSchemas,
} from './worker-messages.ts';

export interface WorkerBackendOptions {
  /**
   * GPU backend for llama.cpp: `auto` uses CUDA when its prebuilt binary and a device are present
   * and falls back to CPU; `cuda` requires it; `false` is CPU only.
   * @default 'auto'
   */
  gpu?: 'auto' | 'cuda' | false;
  /** Threads llama.cpp may use in total. @default os.availableParallelism() */
  maxThreads?: number;
  /** Threads per model context. @default maxThreads */
  contextThreads?: number;
  logger?: Logger;
  /** First restart delay after a crash; doubles per consecutive crash. @default 100 */
  restartDelayMs?: number;
  /** Cap of the restart delay. @default 5_000 */
  maxRestartDelayMs?: number;
  /** How long a (re)started worker may take to report ready. @default 60_000 */
  startTimeoutMs?: number;
  /** Called after each worker start with how long the child took to be ready (for reports). */
  onWorkerReady?: (info: { startupMs: number; restarts: number }) => void;
}

interface PendingCall {
  method: WorkerMethod;
  resolve: (value: unknown) => void;
  reject: (error: ClawError) => void;
  onDelta?: (text: string) => void;
}

interface Worker {
  child: ChildProcess;
  ready: Promise<void>;
  /** Last lines the worker wrote to stderr: llama.cpp's last words when it aborts. */
  stderrTail: string[];
}

const STDERR_TAIL_LINES = 20;
const WORKER_ENTRY = fileURLToPath(new URL('./worker-main.ts', import.meta.url));

/**
 * The real InferenceBackend: llama.cpp runs in a supervised child process (`worker-main.ts`).
 *
 * Supervision: when the child dies without being asked to, every call in flight rejects with
 * WORKER_CRASHED (retryable), the child is restarted after a backoff, and every model that was
 * loaded is loaded again before any new call runs, so the next request succeeds. The parent (the
 * orchestrator and its IPC server) never loads native code and keeps running.
 *
 * Invariant: `#models` is what the pool believes is loaded; after a restart the worker is brought
 * back to exactly that set (a model whose reload fails is dropped and logged).
 */
export class WorkerBackend implements InferenceBackend {
  readonly #options: Required<Omit<WorkerBackendOptions, 'logger' | 'onWorkerReady'>>;
  readonly #logger: Logger;
  readonly #onWorkerReady: WorkerBackendOptions['onWorkerReady'];
  readonly #pending = new Map<number, PendingCall>();
  readonly #models = new Map<string, { spec: ModelSpec; loaded: LoadedModel }>();
  readonly #loading = new Map<string, Promise<LoadedModel>>();
  readonly #busySlots = new Set<string>();
  #worker: Worker | undefined;
  /** Resolves when a worker is ready and its models are reloaded; replaced on each restart. */
  #available: Promise<void>;
  #nextId = 1;
  #restarts = 0;
  #consecutiveCrashes = 0;
  #disposed = false;

  private constructor(options: WorkerBackendOptions) {
    const maxThreads = options.maxThreads ?? availableParallelism();
    this.#options = {
      gpu: options.gpu ?? 'auto',
      maxThreads,
      contextThreads: options.contextThreads ?? maxThreads,
      restartDelayMs: options.restartDelayMs ?? 100,
      maxRestartDelayMs: options.maxRestartDelayMs ?? 5_000,
      startTimeoutMs: options.startTimeoutMs ?? 60_000,
    };
    this.#logger = (options.logger ?? silentLogger).child({ component: 'inference-worker-backend' });
    this.#onWorkerReady = options.onWorkerReady;
    this.#available = this.#start();
  }

  /** Starts the worker and resolves once it is ready. */
  static async start(options: WorkerBackendOptions = {}): Promise<WorkerBackend> {
    const backend = new WorkerBackend(options);
    try {
      await backend.#available;
    } catch (error) {
      await backend.dispose();
      throw error;
    }
    return backend;
  }

  /** How many times the worker was restarted after a crash. */
  get restarts(): number {
    return this.#restarts;
  }

  /** Process id of the current worker (for tests and diagnostics). */
  get workerPid(): number | undefined {
    return this.#worker?.child.pid;
  }

  #start(): Promise<void> {
    const startOptions: WorkerStartOptions = {
      gpu: this.#options.gpu,
      maxThreads: this.#options.maxThreads,
      contextThreads: this.#options.contextThreads,
    };
    const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
    const child = fork(WORKER_ENTRY, [JSON.stringify(startOptions)], {
      execArgv: ['--import', tsxLoader],
      serialization: 'advanced',
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const worker: Worker = { child, ready: Promise.resolve(), stderrTail: [] };
    this.#worker = worker;

    let stderrBuffer = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderrBuffer += chunk;
      const lines = stderrBuffer.split('\n');
      stderrBuffer = lines.pop() ?? '';
      for (const line of lines) {
        if (line.length === 0) continue;
        worker.stderrTail.push(line);
        if (worker.stderrTail.length > STDERR_TAIL_LINES) worker.stderrTail.shift();
        this.#logger.debug({ line }, 'worker stderr');
      }
    });
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => this.#logger.debug({ chunk }, 'worker stdout'));

    worker.ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(
          new ClawError(
            'WORKER_CRASHED',
            `The inference worker did not start within ${this.#options.startTimeoutMs} ms`,
          ),
        );
      }, this.#options.startTimeoutMs);
      const onEarlyExit = (code: number | null, signal: NodeJS.Signals | null): void => {
        clearTimeout(timer);
        reject(
          new ClawError(
            'WORKER_CRASHED',
            `The inference worker exited while starting (code ${code}, signal ${signal})`,
            {
              details: { exitCode: code, signal, stderr: worker.stderrTail.join('\n') },
            },
          ),
        );
      };
      child.once('exit', onEarlyExit);
      child.on('message', (raw: unknown) => {
        const parsed = workerMessageSchema.safeParse(raw);
        if (!parsed.success) {
          this.#logger.warn({ issue: parsed.error.issues[0]?.message }, 'invalid message from the inference worker');
          return;
        }
        if (parsed.data.type === 'ready') {
          clearTimeout(timer);
          child.off('exit', onEarlyExit);
          this.#logger.info(
            { startupMs: Math.round(parsed.data.startupMs), gpu: parsed.data.gpu },
            'inference worker ready',
          );
          this.#onWorkerReady?.({ startupMs: parsed.data.startupMs, restarts: this.#restarts });
          resolve();
          return;
        }
        this.#onWorkerMessage(parsed.data);
      });
    });
    child.on('exit', (code, signal) => this.#onExit(worker, code, signal));
    return worker.ready;
  }

  #onWorkerMessage(message: Exclude<WorkerMessage, { type: 'ready' }>): void {
    const pending = this.#pending.get(message.id);
    if (pending === undefined) return;
    switch (message.type) {
      case 'delta':
        pending.onDelta?.(message.text);
        return;
      case 'error':
        this.#pending.delete(message.id);
        pending.reject(ClawError.fromJSON(message.error));
        return;
      case 'result': {
        this.#pending.delete(message.id);
        const parsed = workerResultSchemas[pending.method].safeParse(message.result);
        if (parsed.success) pending.resolve(parsed.data);
        else
          pending.reject(
            new ClawError('INTERNAL', `The inference worker answered ${pending.method} with an invalid result`),
          );
        return;
      }
    }
  }

  #onExit(worker: Worker, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#worker !== worker) return;
    this.#worker = undefined;
    const crash = new ClawError(
      this.#disposed ? 'SHUTTING_DOWN' : 'WORKER_CRASHED',
      this.#disposed
        ? 'The inference backend is shutting down'
        : `The inference worker died (code ${code}, signal ${signal}); the request can be retried`,
      { details: { exitCode: code, signal, stderr: worker.stderrTail.slice(-5).join('\n') } },
    );
    for (const [id, pending] of this.#pending) {
      this.#pending.delete(id);
      pending.reject(crash);
    }
    this.#busySlots.clear();
    if (this.#disposed) return;

    this.#consecutiveCrashes += 1;
    this.#restarts += 1;
    const delay = Math.min(
      this.#options.maxRestartDelayMs,
      this.#options.restartDelayMs * 2 ** (this.#consecutiveCrashes - 1),
    );
    this.#logger.error(
      { exitCode: code, signal, delayMs: delay, stderr: worker.stderrTail.slice(-5) },
      'inference worker died; restarting',
    );
    this.#available = new Promise<void>((resolve) => setTimeout(resolve, delay)).then(() => this.#restart());
    // Calls await #available and see its failure; nothing else must treat it as unhandled.
    this.#available.catch(() => {});
  }

  async #restart(): Promise<void> {
    if (this.#disposed) throw this.#shuttingDown();
    await this.#start();
    for (const [modelId, { spec }] of [...this.#models]) {
      try {
        await this.#call({ method: 'load-model', params: spec });
      } catch (error) {
        // Dropped either way: it no longer loads, or loading it killed the worker again. In the
        // second case the next restart (already scheduled by #onExit) reloads the others; dropping
        // the culprit is what keeps a model that aborts on load from causing a crash loop.
        this.#models.delete(modelId);
        this.#logger.error({ err: error, modelId }, 'model could not be reloaded after a worker restart; dropped');
        if (isClawError(error, 'WORKER_CRASHED')) return;
      }
    }
  }

  #shuttingDown(): ClawError {
    return new ClawError('SHUTTING_DOWN', 'The inference backend is disposed');
  }

  /** Sends one call to the ready worker and waits for its answer. */
  #call<M extends WorkerMethod>(
    call: Extract<WorkerCall, { method: M }>,
    options: { signal?: AbortSignal; onDelta?: (text: string) => void } = {},
  ): Promise<unknown> {
    const worker = this.#worker;
    if (worker === undefined || !worker.child.connected) {
      return Promise.reject(new ClawError('WORKER_CRASHED', 'The inference worker is not running'));
    }
    const id = this.#nextId++;
    return new Promise<unknown>((resolve, reject) => {
      const onAbort = (): void => {
        if (worker.child.connected) worker.child.send({ type: 'cancel', id });
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const cleanup = (): void => options.signal?.removeEventListener('abort', onAbort);
      this.#pending.set(id, {
        method: call.method,
        resolve: (value) => {
          cleanup();
          resolve(value);
        },
        reject: (error) => {
          cleanup();
          reject(error);
        },
        ...(options.onDelta === undefined ? {} : { onDelta: options.onDelta }),
      });
      worker.child.send({ type: 'call', id, call }, (error) => {
        if (error === null || !this.#pending.has(id)) return;
        this.#pending.delete(id);
        cleanup();
        reject(
          new ClawError('WORKER_CRASHED', `Could not send to the inference worker: ${error.message}`, { cause: error }),
        );
      });
    });
  }

  /** Waits until a worker is up (restarting after a crash if need be), then calls it. */
  async #whenAvailable<T>(run: () => Promise<T>): Promise<T> {
    if (this.#disposed) throw this.#shuttingDown();
    await this.#available;
    if (this.#disposed) throw this.#shuttingDown();
    const result = await run();
    this.#consecutiveCrashes = 0;
    return result;
  }

  async estimateModelMemory(spec: ModelSpec): Promise<number> {
    const params = parseOrThrow(modelSpecSchema, spec);
    return this.#whenAvailable(async () => (await this.#call({ method: 'estimate-model-memory', params })) as number);
  }

  async loadModel(spec: ModelSpec, signal?: AbortSignal): Promise<LoadedModel> {
    const params = parseOrThrow(modelSpecSchema, spec);
    if (this.#disposed) throw this.#shuttingDown();
    signal?.throwIfAborted();
    const existing = this.#models.get(params.id);
    if (existing !== undefined) {
      if (
        existing.spec.path !== params.path ||
        existing.spec.slots !== params.slots ||
        existing.spec.contextSize !== params.contextSize
      ) {
        throw new ClawError(
          'CONFLICT',
          `Model \`${params.id}\` is already loaded from ${existing.spec.path}; unload it before loading it with another spec`,
          { retryable: false, details: { modelId: params.id } },
        );
      }
      return existing.loaded;
    }
    const inFlight = this.#loading.get(params.id);
    if (inFlight !== undefined) return inFlight;
    // A load is not cancellable inside llama.cpp; an abort only stops the caller from waiting.
    const loading = this.#whenAvailable(async () => {
      const loaded = (await this.#call({ method: 'load-model', params })) as LoadedModel;
      this.#models.set(params.id, { spec: params, loaded });
      return loaded;
    }).finally(() => this.#loading.delete(params.id));
    this.#loading.set(params.id, loading);
    return signal === undefined ? loading : raceAbort(loading, signal);
  }

  async unloadModel(modelId: string): Promise<void> {
    const id = parseOrThrow(modelIdSchema, modelId);
    if (this.#disposed) throw this.#shuttingDown();
    await this.#loading.get(id)?.catch(() => undefined);
    if (!this.#models.has(id)) return;
    this.#models.delete(id);
    await this.#whenAvailable(() => this.#call({ method: 'unload-model', params: { modelId: id } }));
  }

  async generate(request: GenerateRequest, callbacks: GenerateCallbacks = {}): Promise<GenerateResult> {
    if (this.#disposed) throw this.#shuttingDown();
    const params = parseOrThrow(generateRequestSchema, request);
    if (callbacks.signal?.aborted)
      throw new ClawError('CANCELLED', 'The generate request was cancelled before it started');
    const model = this.#models.get(params.modelId);
    if (model === undefined) {
      throw new ClawError('NOT_FOUND', `Model \`${params.modelId}\` is not loaded`, {
        details: { modelId: params.modelId },
      });
    }
    if (params.slot >= model.spec.slots) {
      throw new ClawError(
        'INVALID_PARAMS',
        `Expected \`slot\` to be an integer 0-${model.spec.slots - 1}, got \`${params.slot}\` (number)`,
        { details: { field: 'slot' } },
      );
    }
    const slotKey = `${params.modelId}\u0000${params.slot}`;
    if (this.#busySlots.has(slotKey)) {
      throw new ClawError('CONFLICT', `Slot ${params.slot} of model \`${params.modelId}\` is already generating`, {
        retryable: false,
        details: { modelId: params.modelId, slot: params.slot },
      });
    }
    this.#busySlots.add(slotKey);
    try {
      return await this.#whenAvailable(
        async () =>
          (await this.#call(
            { method: 'generate', params },
            {
              ...(callbacks.signal === undefined ? {} : { signal: callbacks.signal }),
              ...(callbacks.onDelta === undefined ? {} : { onDelta: callbacks.onDelta }),
            },
          )) as GenerateResult,
      );
    } finally {
      this.#busySlots.delete(slotKey);
    }
  }

  async embed(modelId: string, texts: string[], signal?: AbortSignal): Promise<number[][]> {
    if (this.#disposed) throw this.#shuttingDown();
    const params = parseOrThrow(embedRequestSchema, { modelId, texts });
    if (signal?.aborted) throw new ClawError('CANCELLED', 'The embed request was cancelled before it started');
    if (!this.#models.has(params.modelId)) {
      throw new ClawError('NOT_FOUND', `Model \`${params.modelId}\` is not loaded`, {
        details: { modelId: params.modelId },
      });
    }
    return this.#whenAvailable(
      async () => (await this.#call({ method: 'embed', params }, signal === undefined ? {} : { signal })) as number[][],
    );
  }

  async memoryState(): Promise<MemoryState> {
    return this.#whenAvailable(async () => (await this.#call({ method: 'memory-state', params: {} })) as MemoryState);
  }

  /** Ends the worker (politely, then SIGKILL after 5 s); later calls reject with SHUTTING_DOWN. */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    const worker = this.#worker;
    if (worker === undefined || worker.child.exitCode !== null || worker.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => worker.child.once('exit', () => resolve()));
    if (worker.child.connected) worker.child.send({ type: 'shutdown' });
    const timer = setTimeout(() => worker.child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new ClawError('CANCELLED', 'The load was cancelled by its caller'));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
