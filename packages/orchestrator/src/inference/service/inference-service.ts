import { randomUUID } from 'node:crypto';
import type { RequestContext } from '@clawfleet/ipc';
import {
  ClawError,
  INFERENCE_METHODS,
  type InferenceAccountingRecord,
  type InferenceEmbedParams,
  type InferenceEmbedResult,
  type InferenceGenerateParams,
  type InferenceGenerateResult,
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
  silentLogger,
} from '@clawfleet/protocol';
import type { ZodType } from 'zod';
import { z } from 'zod';
import type { GenerateResult, InferenceBackend } from '../backend.ts';
import type { SlotLease } from '../slot-pool/slot-lease.ts';
import type { SlotPool } from '../slot-pool/slot-pool.ts';
import { parseOrThrow } from '../slot-pool/slot-pool-options.ts';
import { DeltaStream } from './delta-stream.ts';
import {
  type AgentInferenceSettings,
  type InferenceServiceSettings,
  inferenceServiceSettingsSchema,
} from './inference-service-settings.ts';
import { UsageLedger } from './usage-ledger.ts';

export interface InferenceServiceOptions {
  pool: SlotPool;
  /** The backend the pool lends slots of; the service runs generations on it. */
  backend: InferenceBackend;
  /** Validated here (CONFIG_INVALID): per-agent model and sampling settings. */
  settings: InferenceServiceSettings;
  /** Called once per request when it ends, success or not; e.g. to write it to the database. */
  onAccounting?: (record: InferenceAccountingRecord) => void;
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

/**
 * The inference API over IPC: `inference.generate` (streamed), `inference.structured` (JSON-schema
 * constrained, validated), `inference.embed`, `inference.usage`. The caller is the connection's
 * authenticated identity; its model and sampling come from the settings, never from the request.
 * Every request goes through the slot pool and ends in one accounting record.
 */
export class InferenceService {
  readonly #pool: SlotPool;
  readonly #backend: InferenceBackend;
  readonly #settings: InferenceServiceSettings;
  readonly #onAccounting: ((record: InferenceAccountingRecord) => void) | undefined;
  readonly #logger: Logger;
  readonly #ledger = new UsageLedger();
  readonly #requestTimeoutMs: number;

  constructor(options: InferenceServiceOptions) {
    this.#settings = parseOrThrow(
      inferenceServiceSettingsSchema,
      options.settings,
      'CONFIG_INVALID',
      'inference service settings',
    );
    const configured = new Set(options.pool.status().models.map((model) => model.id));
    const entries: [string, AgentInferenceSettings][] = Object.entries(this.#settings.agents);
    if (this.#settings.defaults !== undefined) entries.push(['defaults', this.#settings.defaults]);
    for (const [agent, settings] of entries) {
      for (const modelId of [settings.modelId, settings.embeddingModelId]) {
        if (modelId !== undefined && !configured.has(modelId)) {
          throw new ClawError(
            'CONFIG_INVALID',
            `Invalid inference service settings at \`${agent}\`: model \`${modelId}\` is not configured; configured: ${[...configured].join(', ')}`,
          );
        }
      }
    }
    this.#pool = options.pool;
    this.#backend = options.backend;
    this.#onAccounting = options.onAccounting;
    this.#logger = (options.logger ?? silentLogger).child({ component: 'inference-service' });
    this.#requestTimeoutMs = this.#settings.requestTimeoutMs ?? 600_000;
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
      budgetBytes: pool.budgetBytes,
      reservedBytes: pool.reservedBytes,
      models: pool.models.map((model) => ({
        id: model.id,
        state: model.state,
        reservedBytes: model.reservedBytes,
        busySlots: model.busySlots,
        slots: model.slots,
        closing: model.closing,
      })),
    };
  }

  async generate(
    agent: string,
    params: InferenceGenerateParams,
    call: InferenceCallOptions = {},
  ): Promise<InferenceGenerateResult> {
    const parsed = parseOrThrow(inferenceGenerateParamsSchema, params, 'INVALID_PARAMS', '`inference.generate` params');
    return this.#generate('generate', agent, parsed, undefined, call, (result) => result);
  }

  /**
   * Generation constrained by a JSON-schema grammar; the parsed output is checked against the
   * schema here too (the grammar is the backend's business; the contract is this check), and a
   * mismatch or a cut-off output is OUTPUT_INVALID (retryable: another sample may pass).
   */
  async structured(
    agent: string,
    params: InferenceStructuredParams,
    call: InferenceCallOptions = {},
  ): Promise<InferenceStructuredResult> {
    const parsed = parseOrThrow(
      inferenceStructuredParamsSchema,
      params,
      'INVALID_PARAMS',
      '`inference.structured` params',
    );
    let validator: ZodType;
    try {
      validator = z.fromJSONSchema(parsed.jsonSchema as Parameters<typeof z.fromJSONSchema>[0]);
    } catch (error) {
      throw new ClawError('INVALID_PARAMS', `Invalid \`jsonSchema\`: ${(error as Error).message}`, { cause: error });
    }
    return this.#generate('structured', agent, parsed, parsed.jsonSchema, call, (result) => {
      if (result.stopReason !== 'eos') {
        throw new ClawError(
          'OUTPUT_INVALID',
          `The structured output was cut off (${result.stopReason}) after ${result.tokensOut} tokens; raise \`maxTokens\` or bound the schema's lengths`,
          { details: { stopReason: result.stopReason, tokensOut: result.tokensOut } },
        );
      }
      let value: unknown;
      try {
        value = JSON.parse(result.text);
      } catch (error) {
        throw new ClawError('OUTPUT_INVALID', `The model output is not valid JSON: ${(error as Error).message}`, {
          cause: error,
        });
      }
      const checked = validator.safeParse(value);
      if (!checked.success) {
        const issue = checked.error.issues[0];
        const where = issue !== undefined && issue.path.length > 0 ? ` at \`${issue.path.join('.')}\`` : '';
        throw new ClawError(
          'OUTPUT_INVALID',
          `The model output does not match the schema${where}: ${issue?.message ?? 'invalid'}`,
        );
      }
      return { ...result, value };
    });
  }

  async embed(
    agent: string,
    params: InferenceEmbedParams,
    call: InferenceCallOptions = {},
  ): Promise<InferenceEmbedResult> {
    const parsed = parseOrThrow(inferenceEmbedParamsSchema, params, 'INVALID_PARAMS', '`inference.embed` params');
    const settings = this.#settingsFor(agent);
    const modelId = settings.embeddingModelId ?? settings.modelId;
    const priority = parsed.priority ?? 'act';
    const arrived = performance.now();
    const lease = await this.#acquire('embed', agent, modelId, priority, undefined, call.signal, arrived);
    const started = performance.now();
    try {
      const vectors = await this.#backend.embed(modelId, parsed.texts, lease.signal);
      const generateMs = performance.now() - started;
      // The backend does not report embedding token counts: tokens stay 0 in the record.
      this.#account({ method: 'embed', agent, modelId, priority, queuedMs: lease.queuedMs, generateMs }, 'completed');
      return { modelId, vectors, queuedMs: lease.queuedMs, generateMs };
    } catch (error) {
      const failure = ClawError.from(error);
      this.#account(
        {
          method: 'embed',
          agent,
          modelId,
          priority,
          queuedMs: lease.queuedMs,
          generateMs: performance.now() - started,
        },
        'failed',
        failure,
      );
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

  async #streamed<T>(context: RequestContext, run: (onDelta: (text: string) => void) => Promise<T>): Promise<T> {
    const stream = new DeltaStream((text) => context.sendDelta({ text }));
    const result = await run((text) => stream.push(text));
    await stream.flush();
    return result;
  }

  async #generate<T>(
    method: 'generate' | 'structured',
    agent: string,
    params: InferenceGenerateParams,
    jsonSchema: Record<string, unknown> | undefined,
    call: InferenceCallOptions,
    finish: (result: InferenceGenerateResult) => T,
  ): Promise<T> {
    const settings = this.#settingsFor(agent);
    const { modelId, sampling } = settings;
    const arrived = performance.now();
    const lease = await this.#acquire(method, agent, modelId, params.priority, params.prefix, call.signal, arrived);
    const base = { method, agent, modelId, priority: params.priority, queuedMs: lease.queuedMs } as const;
    let generated: GenerateResult | undefined;
    try {
      generated = await this.#backend.generate(
        {
          modelId,
          slot: lease.slot,
          prefix: params.prefix,
          prompt: params.prompt,
          sampling: {
            temperature: sampling.temperature,
            topP: sampling.topP,
            seed: params.seed ?? sampling.seed,
            maxTokens: Math.min(params.maxTokens ?? sampling.maxTokens, sampling.maxTokens),
          },
          jsonSchema,
        },
        { signal: lease.signal, onDelta: call.onDelta },
      );
      // Stopped by cancellation, deadline or disconnect: the caller gets the reason, not a partial result.
      if (generated.stopReason === 'aborted' && lease.signal.aborted)
        throw ClawError.from(lease.signal.reason, 'CANCELLED');
      const result: InferenceGenerateResult = {
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
      this.#account({ ...base, ...tokensOf(generated) }, 'completed');
      return finished;
    } catch (error) {
      const failure = ClawError.from(error);
      this.#account({ ...base, ...(generated === undefined ? {} : tokensOf(generated)) }, 'failed', failure);
      throw failure;
    } finally {
      lease.release();
    }
  }

  async #acquire(
    method: AccountedMethod,
    agent: string,
    modelId: string,
    priority: InferencePriority,
    prefix: string | undefined,
    signal: AbortSignal | undefined,
    arrived: number,
  ): Promise<SlotLease> {
    try {
      return await this.#pool.acquire({ agent, modelId, priority, prefix, signal, timeoutMs: this.#requestTimeoutMs });
    } catch (error) {
      const failure = ClawError.from(error);
      this.#account({ method, agent, modelId, priority, queuedMs: performance.now() - arrived }, 'failed', failure);
      throw failure;
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

  #account(
    fields: {
      method: AccountedMethod;
      agent: string;
      modelId: string;
      priority: InferencePriority;
      queuedMs: number;
      generateMs?: number;
      tokensIn?: number;
      tokensOut?: number;
      tokensReused?: number;
      stopReason?: InferenceAccountingRecord['stopReason'];
    },
    outcome: InferenceAccountingRecord['outcome'],
    error?: ClawError,
  ): void {
    const record: InferenceAccountingRecord = {
      requestId: randomUUID(),
      agent: fields.agent,
      method: fields.method,
      modelId: fields.modelId,
      priority: fields.priority,
      tokensIn: fields.tokensIn ?? 0,
      tokensOut: fields.tokensOut ?? 0,
      tokensReused: fields.tokensReused ?? 0,
      queuedMs: fields.queuedMs,
      generateMs: fields.generateMs ?? 0,
      outcome,
      finishedAt: Date.now(),
    };
    if (fields.stopReason !== undefined) record.stopReason = fields.stopReason;
    if (error !== undefined) record.errorCode = error.code;
    this.#ledger.add(record);
    try {
      this.#onAccounting?.(record);
    } catch (hookError) {
      this.#logger.error({ err: hookError, agent: record.agent }, 'the accounting hook threw');
    }
  }
}

function tokensOf(result: GenerateResult) {
  return {
    tokensIn: result.tokensIn,
    tokensOut: result.tokensOut,
    tokensReused: result.tokensReused,
    generateMs: result.generateMs,
    stopReason: result.stopReason,
  };
}
