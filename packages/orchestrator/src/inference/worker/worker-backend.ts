import { type ChildProcess, fork } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { ClawError, isClawError, type Logger, silentLogger } from '@clawfleet/protocol';
import { nodeFlagsFor, processEntry } from '../../process-entries.ts';
import type {
  EmbedResult,
  GenerateCallbacks,
  GenerateRequest,
  GenerateResult,
  InferenceBackend,
  LoadedModel,
  LoadModelOptions,
  MemoryState,
  ModelSpec,
} from '../backend.ts';
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
  /** Threads llama.cpp may use in total. @default {@link defaultInferenceThreads} */
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
  onProgress?: (progress: number) => void;
}

interface CallOptions {
  signal?: AbortSignal;
  onDelta?: (text: string) => void;
  onProgress?: (progress: number) => void;
}

interface Worker {
  child: ChildProcess;
  ready: Promise<void>;
  /** Last lines the worker wrote to stderr: llama.cpp's last words when it aborts. */
  stderrTail: string[];
}

const STDERR_TAIL_LINES = 20;
/** `worker-main.ts` beside this file, or `inference-worker.js` beside the orchestrator's bundle. */
const WORKER_ENTRY = processEntry('inference/worker/worker-main.ts', 'inference-worker.js');

/**
 * Half the logical cores, at least one. llama.cpp's threads spin while they wait for each other,
 * so one that the OS preempts stalls the rest: with every core in use, any other load (the
 * orchestrator, the agents, the OS) makes generation several times slower (about 3x slower than
 * one thread on a loaded 2-core machine). Half leaves room for them; on machines with SMT it is
 * also about the number of physical cores, where llama.cpp's matrix work stops gaining. On a GPU the
 * threads only feed the device, and this is plenty. Set `threads` in the config to override.
 */
export function defaultInferenceThreads(cores: number = availableParallelism()): number {
  return Math.max(1, Math.floor(cores / 2));
}

/**
 * The real InferenceBackend: llama.cpp runs in a supervised child process (`worker-main.ts`).
 *
 * Supervision: when the child dies without being asked to, every call in flight rejects with
 * WORKER_CRASHED (retryable), the child is restarted after a backoff, and every model that was
 * loaded is loaded again before any new call runs, so the next request succeeds. The parent (the
 * orchestrator and its IPC server) never loads native code and keeps running.
 *
 * Invariant: `#restore` is what the pool has loaded; after a restart the worker is brought
 * back to exactly that set (a model whose reload fails is dropped and logged).
 */
export class WorkerBackend implements InferenceBackend {
  readonly #options: Required<Omit<WorkerBackendOptions, 'logger' | 'onWorkerReady'>>;
  readonly #logger: Logger;
  readonly #onWorkerReady: WorkerBackendOptions['onWorkerReady'];
  readonly #pending = new Map<number, PendingCall>();
  /**
   * The models to restore after a crash: a restore list, not a record anything is answered from
   * (the pool owns residency and slot occupancy; the worker's engine owns the loaded models).
   */
  readonly #restore = new Map<string, ModelSpec>();
  readonly #loading = new Map<string, Promise<LoadedModel>>();
  #worker: Worker | undefined;
  /** Resolves when a worker is ready and its models are reloaded; replaced on each restart. */
  #available: Promise<void>;
  #nextId = 1;
  #restarts = 0;
  #consecutiveCrashes = 0;
  #disposed = false;
  /** Set by `beginShutdown()`: a worker that dies from now on is not restarted. */
  #shutdownBegun = false;

  private constructor(options: WorkerBackendOptions) {
    const maxThreads = options.maxThreads ?? defaultInferenceThreads();
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

  /**
   * Shutdown has begun (the orchestrator is draining): requests still run, but a worker that dies
   * now is not restarted; its calls fail with WORKER_CRASHED and later ones with SHUTTING_DOWN.
   */
  beginShutdown(): void {
    this.#shutdownBegun = true;
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
    const child = fork(WORKER_ENTRY, [JSON.stringify(startOptions)], {
      execArgv: nodeFlagsFor(WORKER_ENTRY),
      serialization: 'advanced',
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      // Its own process group: Ctrl-C in a terminal signals the foreground group, and the worker
      // must keep running while the orchestrator drains. It still ends with its parent: it exits
      // when the IPC channel closes (worker-main.ts), which happens however the parent dies.
      detached: true,
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
      case 'progress':
        pending.onProgress?.(message.progress);
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
    if (this.#disposed) return;
    if (this.#shutdownBegun) {
      this.#logger.warn({ exitCode: code, signal }, 'inference worker died during shutdown; not restarted');
      this.#available = Promise.reject(this.#shuttingDown());
      this.#available.catch(() => {});
      return;
    }

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
    if (this.#disposed || this.#shutdownBegun) throw this.#shuttingDown();
    await this.#start();
    for (const [modelId, spec] of [...this.#restore]) {
      try {
        await this.#call({ method: 'load-model', params: spec });
      } catch (error) {
        // Dropped either way: it no longer loads, or loading it killed the worker again. In the
        // second case the next restart (already scheduled by #onExit) reloads the others; dropping
        // the culprit is what keeps a model that aborts on load from causing a crash loop.
        this.#restore.delete(modelId);
        this.#logger.error({ err: error, modelId }, 'model could not be reloaded after a worker restart; dropped');
        if (isClawError(error, 'WORKER_CRASHED')) return;
      }
    }
  }

  #shuttingDown(): ClawError {
    return new ClawError('SHUTTING_DOWN', 'The inference backend is disposed');
  }

  /** Sends one call to the ready worker and waits for its answer. */
  #call<M extends WorkerMethod>(call: Extract<WorkerCall, { method: M }>, options: CallOptions = {}): Promise<unknown> {
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
        ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
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

  // Requests are typed in-process; the worker validates what crosses the process boundary and
  // answers bad ones with INVALID_PARAMS, and checks state (loaded models, busy slots) itself.

  async estimateModelMemory(spec: ModelSpec): Promise<number> {
    return this.#whenAvailable(
      async () => (await this.#call({ method: 'estimate-model-memory', params: spec })) as number,
    );
  }

  async loadModel(spec: ModelSpec, options: LoadModelOptions = {}): Promise<LoadedModel> {
    if (this.#disposed) throw this.#shuttingDown();
    const { signal, onProgress } = options;
    signal?.throwIfAborted();
    const inFlight = this.#loading.get(spec.id);
    if (inFlight !== undefined) return signal === undefined ? inFlight : raceAbort(inFlight, signal);
    // A load is not cancellable inside llama.cpp; an abort only stops the caller from waiting.
    const loading = this.#whenAvailable(async () => {
      const loaded = (await this.#call(
        { method: 'load-model', params: spec },
        onProgress === undefined ? {} : { onProgress },
      )) as LoadedModel;
      this.#restore.set(spec.id, spec);
      return loaded;
    }).finally(() => this.#loading.delete(spec.id));
    this.#loading.set(spec.id, loading);
    return signal === undefined ? loading : raceAbort(loading, signal);
  }

  async unloadModel(modelId: string): Promise<void> {
    if (this.#disposed) throw this.#shuttingDown();
    await this.#loading.get(modelId)?.catch(() => undefined);
    this.#restore.delete(modelId);
    await this.#whenAvailable(() => this.#call({ method: 'unload-model', params: { modelId } }));
  }

  async generate(request: GenerateRequest, callbacks: GenerateCallbacks = {}): Promise<GenerateResult> {
    if (this.#disposed) throw this.#shuttingDown();
    if (callbacks.signal?.aborted) {
      throw new ClawError('CANCELLED', 'The generate request was cancelled before it started');
    }
    return this.#whenAvailable(
      async () => (await this.#call({ method: 'generate', params: request }, callbacks)) as GenerateResult,
    );
  }

  async embed(modelId: string, texts: string[], signal?: AbortSignal): Promise<EmbedResult> {
    if (this.#disposed) throw this.#shuttingDown();
    if (signal?.aborted) throw new ClawError('CANCELLED', 'The embed request was cancelled before it started');
    return this.#whenAvailable(
      async () =>
        (await this.#call(
          { method: 'embed', params: { modelId, texts } },
          signal === undefined ? {} : { signal },
        )) as EmbedResult,
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
