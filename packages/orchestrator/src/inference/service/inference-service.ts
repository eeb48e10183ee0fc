import { randomInt, randomUUID } from 'node:crypto';
import type { RequestContext } from '@clawfleet/ipc';
import {
  ClawError,
  INFERENCE_METHODS,
  type InferenceAccountingRecord,
  type InferenceEmbedParams,
  type InferenceEmbedResult,
  type InferenceGenerateParams,
  type InferenceGenerateResult,
  type InferenceOutcome,
  type InferencePriority,
  type InferenceStatusResult,
  type InferenceStructuredParams,
  type InferenceStructuredResult,
  type InferenceUsageResult,
  inferenceEmbedParamsSchema,
  inferenceGenerateParamsSchema,
  inferenceStatusParamsSchema,
  inferenceStructuredParamsSchema,
  inferenceUsageParamsSchema,
  type Logger,
  parseOrThrow,
  silentLogger,
} from '@clawfleet/protocol';
import type { ZodType } from 'zod';
import { type GenerateResult, type LoadedModel, maxPromptCharacters, type SamplingOptions } from '../backend.ts';
import type { EmbeddingLease, SlotLease } from '../slot-pool/slot-lease.ts';
import type { SlotPool } from '../slot-pool/slot-pool.ts';
import { DeltaStream } from './delta-stream.ts';
import {
  type AgentInferenceSettings,
  type InferenceServiceSettings,
  inferenceServiceSettingsSchema,
} from './inference-service-settings.ts';
import { StructuredSchemaCache } from './structured-schemas.ts';
import { UsageLedger } from './usage-ledger.ts';

export interface InferenceServiceOptions {
  /** The pool that lends slots; a lease runs the generation on its slot. */
  pool: SlotPool;
  /** Validated here (CONFIG_INVALID): per-agent model and sampling settings. */
  settings: InferenceServiceSettings;
  /** Called once per request when it ends, success or not; e.g. to write it to the database. */
  onAccounting?: (record: InferenceAccountingRecord) => void;
  /**
   * Called once per generation that ran to its end (eos or max tokens), before the reply is
   * checked, with everything needed to run it again; e.g. to record it for replay. A hook that
   * throws is logged and never fails the request.
   */
  onGeneration?: (call: RecordedGeneration) => void;
  logger?: Logger;
}

/** What a direct (non-IPC) call passes: the caller's cancellation and where deltas go. */
export interface InferenceCallOptions {
  signal?: AbortSignal;
  onDelta?: (text: string) => void;
}

/** Where the service registers its methods: an `IpcServer`. */
export interface MethodRegistry {
  handle<Params, Result>(
    method: string,
    handler: { params: ZodType<Params>; handler: (params: Params, context: RequestContext) => Promise<Result> },
  ): void;
}

type AccountedMethod = InferenceAccountingRecord['method'];

/** One generation as it ran: what a replay needs to run it again, and what it produced. */
export interface RecordedGeneration {
  requestId: string;
  agent: string;
  method: 'generate' | 'structured';
  /** The model as loaded: id, file hash, engine, context size. */
  model: LoadedModel;
  /** The sampling it ran with; `seed` always set (chosen by the service when nobody gave one). */
  sampling: SamplingOptions & { temperature: number; seed: number };
  jsonSchema?: Record<string, unknown>;
  prefix?: string;
  prompt: string;
  result: GenerateResult;
}

/** A generation to run again exactly as recorded (`claw replay`), on the recorded model id. */
export interface ReplayGeneration {
  modelId: string;
  /** The model file hash the call was recorded with; another file loaded under the id is MODEL_MISMATCH. */
  fileSha256: string;
  sampling: SamplingOptions & { temperature: number; seed: number };
  jsonSchema?: Record<string, unknown>;
  prefix?: string;
  prompt: string;
}

/** Seeds are u32: node-llama-cpp passes them to llama.cpp's sampler as such. */
const SEED_LIMIT = 0x1_0000_0000;

/** One request from its arrival: the id every log line and its accounting record carry. */
interface RequestScope {
  readonly requestId: string;
  readonly logger: Logger;
  readonly method: AccountedMethod;
  readonly agent: string;
  readonly priority: InferencePriority;
  /** `performance.now()` at arrival. */
  readonly arrived: number;
  modelId: string;
}

/** What a finished request reports besides its outcome. */
interface RequestFigures {
  queuedMs?: number;
  generateMs?: number;
  tokensIn?: number;
  tokensOut?: number;
  tokensReused?: number;
  stopReason?: InferenceAccountingRecord['stopReason'];
}

/**
 * The inference API over IPC: `inference.generate` (streamed), `inference.structured` (JSON-schema
 * constrained, validated), `inference.embed`, `inference.usage`. The caller is the connection's
 * authenticated identity; its model and sampling come from the settings, never from the request.
 * Every request gets a request id on arrival (bound into a child logger, so each log line about it
 * carries the id), goes through the slot pool, and ends in one accounting record with that id.
 *
 * Params are validated once, where they enter: by the IPC server against the method's schema.
 * The public methods trust their (typed) arguments; what needs state or settings is checked here.
 */
export class InferenceService {
  readonly #pool: SlotPool;
  readonly #settings: InferenceServiceSettings;
  readonly #onAccounting: ((record: InferenceAccountingRecord) => void) | undefined;
  readonly #onGeneration: ((call: RecordedGeneration) => void) | undefined;
  readonly #logger: Logger;
  readonly #ledger = new UsageLedger();
  readonly #schemas = new StructuredSchemaCache();
  readonly #requestTimeoutMs: number;
  readonly #humans: ReadonlySet<string>;
  readonly #contextSizes: Map<string, number>;

  constructor(options: InferenceServiceOptions) {
    this.#settings = parseOrThrow(
      inferenceServiceSettingsSchema,
      options.settings,
      'CONFIG_INVALID',
      'inference service settings',
    );
    this.#contextSizes = options.pool.contextSizes();
    const entries: [string, AgentInferenceSettings][] = Object.entries(this.#settings.agents);
    if (this.#settings.defaults !== undefined) entries.push(['defaults', this.#settings.defaults]);
    for (const [agent, settings] of entries) {
      for (const modelId of [settings.modelId, settings.embeddingModelId]) {
        if (modelId !== undefined && !this.#contextSizes.has(modelId)) {
          throw new ClawError(
            'CONFIG_INVALID',
            `Invalid inference service settings at \`${agent}\`: model \`${modelId}\` is not configured; configured: ${[...this.#contextSizes.keys()].join(', ')}`,
          );
        }
      }
    }
    this.#pool = options.pool;
    this.#onAccounting = options.onAccounting;
    this.#onGeneration = options.onGeneration;
    this.#logger = (options.logger ?? silentLogger).child({ component: 'inference-service' });
    this.#requestTimeoutMs = this.#settings.requestTimeoutMs ?? 600_000;
    this.#humans = new Set(this.#settings.humans ?? []);
  }

  /** Registers the `inference.*` methods on the IPC server. */
  register(server: MethodRegistry): void {
    server.handle(INFERENCE_METHODS.generate, {
      params: inferenceGenerateParamsSchema,
      handler: (params, context) =>
        this.#streamed(context, (onDelta) =>
          this.generate(context.identity, params, { signal: context.signal, onDelta }),
        ),
    });
    server.handle(INFERENCE_METHODS.structured, {
      params: inferenceStructuredParamsSchema,
      handler: (params, context) =>
        this.#streamed(context, (onDelta) =>
          this.structured(context.identity, params, { signal: context.signal, onDelta }),
        ),
    });
    server.handle(INFERENCE_METHODS.embed, {
      params: inferenceEmbedParamsSchema,
      handler: async (params, context) => this.embed(context.identity, params, { signal: context.signal }),
    });
    server.handle(INFERENCE_METHODS.usage, {
      params: inferenceUsageParamsSchema,
      handler: async (_params, context) => this.usage(context.identity),
    });
    server.handle(INFERENCE_METHODS.status, {
      params: inferenceStatusParamsSchema,
      handler: async () => this.status(),
    });
  }

  /** The slot pool's aggregate state, copied field by field so nothing else the pool reports leaks onto the wire. */
  status(): InferenceStatusResult {
    const pool = this.#pool.status();
    return {
      queued: pool.queued,
      running: pool.running,
      permitsInUse: pool.permitsInUse,
      maxConcurrent: pool.maxConcurrent,
      embeddings: { ...pool.embeddings },
      budgetBytes: pool.budgetBytes,
      reservedBytes: pool.reservedBytes,
      models: pool.models.map((model) => ({
        id: model.id,
        state: model.state,
        reservedBytes: model.reservedBytes,
        busySlots: model.busySlots,
        slots: model.slots,
        busyEmbeddings: model.busyEmbeddings,
        closing: model.closing,
      })),
    };
  }

  async generate(
    agent: string,
    params: InferenceGenerateParams,
    call: InferenceCallOptions = {},
  ): Promise<InferenceGenerateResult> {
    const scope = this.#arrive('generate', agent, params.priority);
    return this.#generate(scope, params, undefined, call, (result) => result);
  }

  /**
   * Generation constrained by a JSON-schema grammar; the parsed output is checked against the
   * schema here too (the grammar is the backend's business; the contract is this check), and a
   * mismatch or a cut-off output is OUTPUT_INVALID (retryable: another sample may pass). A schema
   * that is not a valid schema of the supported subset is INVALID_PARAMS before anything is queued.
   */
  async structured(
    agent: string,
    params: InferenceStructuredParams,
    call: InferenceCallOptions = {},
  ): Promise<InferenceStructuredResult> {
    const scope = this.#arrive('structured', agent, params.priority);
    const validator = this.#schemas.validatorFor(params.jsonSchema);
    return this.#generate(scope, params, params.jsonSchema, call, (result) => {
      // A rejected output still was a model call: its id and token counts let the caller record it.
      const made = {
        requestId: result.requestId,
        modelId: result.modelId,
        tokensIn: result.tokensIn,
        tokensOut: result.tokensOut,
      };
      if (result.stopReason !== 'eos') {
        throw new ClawError(
          'OUTPUT_INVALID',
          `The structured output was cut off (${result.stopReason}) after ${result.tokensOut} tokens; raise \`maxTokens\` or bound the schema's lengths`,
          { details: { stopReason: result.stopReason, ...made } },
        );
      }
      let value: unknown;
      try {
        value = JSON.parse(result.text);
      } catch (error) {
        throw new ClawError('OUTPUT_INVALID', `The model output is not valid JSON: ${(error as Error).message}`, {
          cause: error,
          details: made,
        });
      }
      const checked = validator.safeParse(value);
      if (!checked.success) {
        const issue = checked.error.issues[0];
        const where = issue !== undefined && issue.path.length > 0 ? ` at \`${issue.path.join('.')}\`` : '';
        throw new ClawError(
          'OUTPUT_INVALID',
          `The model output does not match the schema${where}: ${issue?.message ?? 'invalid'}`,
          { details: made },
        );
      }
      return { ...result, value };
    });
  }

  /**
   * Embeddings run in the pool's embedding lane: they never take a generation slot, so retrieval in
   * every agent cycle does not hold up triage or act.
   */
  async embed(
    agent: string,
    params: InferenceEmbedParams,
    call: InferenceCallOptions = {},
  ): Promise<InferenceEmbedResult> {
    const priority = params.priority ?? 'act';
    const scope = this.#arrive('embed', agent, priority);
    const settings = this.#settingsFor(agent);
    scope.modelId = settings.embeddingModelId ?? settings.modelId;
    this.#checkPriority(scope);
    const limit = maxPromptCharacters(this.#contextSizes.get(scope.modelId) as number);
    for (const [index, text] of params.texts.entries()) {
      if (text.length > limit) {
        throw new ClawError(
          'INVALID_PARAMS',
          `Expected \`texts[${index}]\` to be at most ${limit} characters for model \`${scope.modelId}\`, got ${text.length}`,
          { details: { field: `texts.${index}`, maxCharacters: limit, characters: text.length } },
        );
      }
    }
    const lease = await this.#lease(scope, undefined, call.signal, (request) => this.#pool.acquireEmbedding(request));
    const started = performance.now();
    try {
      const embedded = await lease.embed(params.texts);
      const generateMs = performance.now() - started;
      this.#finish(scope, 'ok', { queuedMs: lease.queuedMs, generateMs, tokensIn: embedded.tokensIn });
      return {
        requestId: scope.requestId,
        modelId: scope.modelId,
        modelSha256: lease.model.fileSha256,
        vectors: embedded.vectors,
        queuedMs: lease.queuedMs,
        generateMs,
      };
    } catch (error) {
      const failure = ClawError.from(lease.signal.aborted ? lease.signal.reason : error);
      this.#fail(scope, failure, { queuedMs: lease.queuedMs, generateMs: performance.now() - started });
      throw failure;
    } finally {
      lease.release();
    }
  }

  /** Totals of one agent since the service started (zeros when it made no request). */
  usage(agent: string): InferenceUsageResult {
    return { agent, totals: this.#ledger.totalsOf(agent) };
  }

  /** Totals of every agent that made a request, by name. */
  usageByAgent(): InferenceUsageResult[] {
    return this.#ledger.agents().map((agent) => this.usage(agent));
  }

  #arrive(method: AccountedMethod, agent: string, priority: InferencePriority): RequestScope {
    const requestId = randomUUID();
    const logger = this.#logger.child({ requestId, agent, method });
    logger.debug({ priority }, 'request arrived');
    return { requestId, logger, method, agent, priority, arrived: performance.now(), modelId: '' };
  }

  async #streamed<T>(context: RequestContext, run: (onDelta: (text: string) => void) => Promise<T>): Promise<T> {
    const stream = new DeltaStream((text) => context.sendDelta({ text }));
    const result = await run((text) => stream.push(text));
    await stream.flush();
    return result;
  }

  async #generate<T>(
    scope: RequestScope,
    params: InferenceGenerateParams,
    jsonSchema: Record<string, unknown> | undefined,
    call: InferenceCallOptions,
    finish: (result: InferenceGenerateResult) => T,
  ): Promise<T> {
    const { modelId, sampling } = this.#settingsFor(scope.agent);
    scope.modelId = modelId;
    this.#checkPriority(scope);
    this.#checkPromptLength(scope, params);
    const lease = await this.#lease(scope, params.prefix, call.signal, (request) => this.#pool.acquire(request));
    // Sampling is always seeded, so every call can be replayed: a seed nobody gave is chosen here.
    const used = {
      temperature: sampling.temperature ?? 0,
      ...(sampling.topP === undefined ? {} : { topP: sampling.topP }),
      seed: params.seed ?? sampling.seed ?? randomInt(SEED_LIMIT),
      maxTokens: Math.min(params.maxTokens ?? sampling.maxTokens, sampling.maxTokens),
    };
    let generated: GenerateResult | undefined;
    try {
      generated = await lease.generate(
        { prompt: params.prompt, sampling: used, jsonSchema },
        { onDelta: call.onDelta },
      );
      // Stopped by cancellation, deadline or disconnect: the caller gets the reason, not a partial result.
      if (generated.stopReason === 'aborted' && lease.signal.aborted) {
        throw ClawError.from(lease.signal.reason, 'CANCELLED');
      }
      if (generated.stopReason !== 'aborted') {
        this.#recordGeneration(scope, {
          requestId: scope.requestId,
          agent: scope.agent,
          method: scope.method === 'structured' ? 'structured' : 'generate',
          model: lease.model,
          sampling: used,
          ...(jsonSchema === undefined ? {} : { jsonSchema }),
          ...(params.prefix === undefined ? {} : { prefix: params.prefix }),
          prompt: params.prompt,
          result: generated,
        });
      }
      const result: InferenceGenerateResult = {
        requestId: scope.requestId,
        text: generated.text,
        modelId,
        tokensIn: generated.tokensIn,
        tokensOut: generated.tokensOut,
        tokensReused: generated.tokensReused,
        queuedMs: lease.queuedMs,
        generateMs: generated.generateMs,
        stopReason: generated.stopReason,
      };
      const finished = finish(result);
      this.#finish(scope, 'ok', { queuedMs: lease.queuedMs, ...figuresOf(generated) });
      return finished;
    } catch (error) {
      const failure = ClawError.from(error);
      this.#fail(scope, failure, {
        queuedMs: lease.queuedMs,
        ...(generated === undefined ? {} : figuresOf(generated)),
      });
      throw failure;
    } finally {
      lease.release();
    }
  }

  /**
   * Runs a recorded generation again with its recorded settings (`claw replay`), at priority `human`
   * for the person waiting, under `caller`'s fairness share. Not accounted and not recorded: it is
   * a check of a past call, not a new one. MODEL_MISMATCH when the model loaded under the recorded
   * id is not the recorded file.
   */
  async replay(
    caller: string,
    replay: ReplayGeneration,
    call: InferenceCallOptions = {},
  ): Promise<{ result: GenerateResult; model: LoadedModel }> {
    if (!this.#contextSizes.has(replay.modelId)) {
      throw new ClawError(
        'MODEL_MISMATCH',
        `Model \`${replay.modelId}\` is not configured any more; configured: ${[...this.#contextSizes.keys()].join(', ')}`,
        { details: { modelId: replay.modelId } },
      );
    }
    const lease = await this.#pool.acquire({
      agent: caller,
      modelId: replay.modelId,
      priority: 'human',
      prefix: replay.prefix,
      signal: call.signal,
      timeoutMs: this.#requestTimeoutMs,
      logger: this.#logger,
    });
    try {
      if (lease.model.fileSha256 !== replay.fileSha256) {
        throw new ClawError(
          'MODEL_MISMATCH',
          `Model \`${replay.modelId}\` is now loaded from a file with sha256 ${lease.model.fileSha256}; the call was made with ${replay.fileSha256}`,
          { details: { modelId: replay.modelId, loaded: lease.model.fileSha256, recorded: replay.fileSha256 } },
        );
      }
      const result = await lease.generate(
        {
          prompt: replay.prompt,
          sampling: replay.sampling,
          ...(replay.jsonSchema === undefined ? {} : { jsonSchema: replay.jsonSchema }),
        },
        { onDelta: call.onDelta },
      );
      if (result.stopReason === 'aborted') throw ClawError.from(lease.signal.reason, 'CANCELLED');
      return { result, model: lease.model };
    } finally {
      lease.release();
    }
  }

  #recordGeneration(scope: RequestScope, generation: RecordedGeneration): void {
    try {
      this.#onGeneration?.(generation);
    } catch (hookError) {
      scope.logger.error({ err: hookError }, 'the generation recording hook threw');
    }
  }

  /** Waits for a lease; a request that never gets one is accounted here. */
  async #lease<L extends SlotLease | EmbeddingLease>(
    scope: RequestScope,
    prefix: string | undefined,
    signal: AbortSignal | undefined,
    acquire: (request: Parameters<SlotPool['acquire']>[0]) => Promise<L>,
  ): Promise<L> {
    try {
      return await acquire({
        agent: scope.agent,
        modelId: scope.modelId,
        priority: scope.priority,
        prefix,
        signal,
        timeoutMs: this.#requestTimeoutMs,
        logger: scope.logger,
      });
    } catch (error) {
      const failure = ClawError.from(error);
      this.#fail(scope, failure, { queuedMs: performance.now() - scope.arrived });
      throw failure;
    }
  }

  /**
   * `human` is for a person waiting (the identities in `settings.humans`, the CLI): it goes first
   * and agents cannot claim it. An agent asking for it is refused rather than silently downgraded,
   * so a wrong priority shows up at once in its tests instead of as a slow agent.
   */
  #checkPriority(scope: RequestScope): void {
    if (scope.priority === 'human' && !this.#humans.has(scope.agent)) {
      throw new ClawError(
        'FORBIDDEN',
        `Priority \`human\` is reserved for a person (identities: ${[...this.#humans].join(', ') || 'none'}); agent \`${scope.agent}\` may use triage, act, reflect or compaction`,
        { details: { field: 'priority' } },
      );
    }
  }

  /** Refuses, before tokenizing or queueing, text that cannot fit the model's context. */
  #checkPromptLength(scope: RequestScope, params: InferenceGenerateParams): void {
    const contextSize = this.#contextSizes.get(scope.modelId) as number;
    const limit = maxPromptCharacters(contextSize);
    const characters = params.prompt.length + (params.prefix?.length ?? 0);
    if (characters > limit) {
      throw new ClawError(
        'INVALID_PARAMS',
        `Expected \`prefix\` and \`prompt\` together to be at most ${limit} characters for model \`${scope.modelId}\` (context ${contextSize} tokens), got ${characters}`,
        { details: { field: 'prompt', maxCharacters: limit, characters, contextSize } },
      );
    }
  }

  #settingsFor(agent: string): AgentInferenceSettings {
    const settings = Object.hasOwn(this.#settings.agents, agent)
      ? this.#settings.agents[agent]
      : this.#settings.defaults;
    if (settings === undefined) {
      throw new ClawError('FORBIDDEN', `Agent \`${agent}\` has no inference settings`);
    }
    return settings;
  }

  #fail(scope: RequestScope, error: ClawError, figures: RequestFigures): void {
    this.#finish(scope, outcomeOf(error), figures, error);
  }

  #finish(scope: RequestScope, outcome: InferenceOutcome, figures: RequestFigures, error?: ClawError): void {
    const record: InferenceAccountingRecord = {
      requestId: scope.requestId,
      agent: scope.agent,
      method: scope.method,
      modelId: scope.modelId,
      priority: scope.priority,
      tokensIn: figures.tokensIn ?? 0,
      tokensOut: figures.tokensOut ?? 0,
      tokensReused: figures.tokensReused ?? 0,
      queuedMs: figures.queuedMs ?? 0,
      generateMs: figures.generateMs ?? 0,
      outcome,
      finishedAt: Date.now(),
    };
    if (figures.stopReason !== undefined) record.stopReason = figures.stopReason;
    if (error !== undefined) record.errorCode = error.code;
    scope.logger.debug(
      { outcome, code: error?.code, queuedMs: record.queuedMs, generateMs: record.generateMs },
      'request finished',
    );
    this.#ledger.add(record);
    try {
      this.#onAccounting?.(record);
    } catch (hookError) {
      scope.logger.error({ err: hookError }, 'the accounting hook threw');
    }
  }
}

/** A request its caller stopped (a cancel, or the connection it came on closing) is `cancelled`. */
function outcomeOf(error: ClawError): InferenceOutcome {
  return error.code === 'CANCELLED' || error.code === 'CONNECTION_CLOSED' ? 'cancelled' : 'failed';
}

function figuresOf(result: GenerateResult): RequestFigures {
  return {
    tokensIn: result.tokensIn,
    tokensOut: result.tokensOut,
    tokensReused: result.tokensReused,
    generateMs: result.generateMs,
    stopReason: result.stopReason,
  };
}
