import {
  ClawError,
  INFERENCE_METHODS,
  type InferenceEmbedResult,
  type InferenceGenerateResult,
  type InferencePriority,
  type InferenceStatusResult,
  type InferenceStructuredResult,
  type InferenceUsageResult,
  inferenceDeltaSchema,
  inferenceEmbedParamsSchema,
  inferenceEmbedResultSchema,
  inferenceGenerateParamsSchema,
  inferenceGenerateResultSchema,
  inferenceStatusResultSchema,
  inferenceStructuredParamsSchema,
  inferenceStructuredResultSchema,
  inferenceUsageResultSchema,
  parseOrThrow,
} from '@clawfleet/protocol';
import type { ZodType } from 'zod';

/** What the client sends requests through: an `IpcClient` connected as the agent. */
export interface InferenceTransport {
  request<Result = unknown>(
    method: string,
    params: unknown,
    options?: { signal?: AbortSignal; timeoutMs?: number; onDelta?: (data: unknown) => void },
  ): Promise<Result>;
}

export interface InferenceClientOptions {
  /** Priority of requests that name none. @default `act` */
  defaultPriority?: InferencePriority;
}

export interface GenerateOptions {
  /** Stable prelude (identity, memory) kept evaluated in the slot across requests. */
  prefix?: string;
  /** @default the client's `defaultPriority` */
  priority?: InferencePriority;
  /** Lowers the agent's configured maximum for this request. */
  maxTokens?: number;
  seed?: number;
  /** Cancels the request, queued or running. */
  signal?: AbortSignal;
  /** Deadline in milliseconds for waiting and generating together. */
  timeoutMs?: number;
  /** Each chunk of generated text as it streams. */
  onDelta?: (text: string) => void;
}

export interface EmbedOptions {
  priority?: InferencePriority;
  signal?: AbortSignal;
  timeoutMs?: number;
}

/**
 * The agent-side inference API. The orchestrator knows the caller from the connection, and picks
 * the model and sampling from that agent's settings. Params are checked before sending
 * (INVALID_PARAMS) and every response and delta is checked against the protocol schemas
 * (INVALID_RESPONSE), so callers get typed values or a typed error.
 */
export class InferenceClient {
  readonly #transport: InferenceTransport;
  readonly #defaultPriority: InferencePriority;

  constructor(transport: InferenceTransport, options: InferenceClientOptions = {}) {
    this.#transport = transport;
    this.#defaultPriority = options.defaultPriority ?? 'act';
  }

  async generate(prompt: string, options: GenerateOptions = {}): Promise<InferenceGenerateResult> {
    const params = parseOrThrow(
      inferenceGenerateParamsSchema,
      { prompt, ...this.#generateFields(options) },
      'INVALID_PARAMS',
      '`generate` options',
    );
    return this.#streamed(INFERENCE_METHODS.generate, params, options, inferenceGenerateResultSchema);
  }

  /** Generation constrained by a JSON schema; `value` is the parsed output, already checked against it. */
  async structured<Value = unknown>(
    prompt: string,
    jsonSchema: Record<string, unknown>,
    options: GenerateOptions = {},
  ): Promise<InferenceStructuredResult & { value: Value }> {
    const params = parseOrThrow(
      inferenceStructuredParamsSchema,
      { prompt, jsonSchema, ...this.#generateFields(options) },
      'INVALID_PARAMS',
      '`structured` options',
    );
    const result = await this.#streamed(INFERENCE_METHODS.structured, params, options, inferenceStructuredResultSchema);
    return result as InferenceStructuredResult & { value: Value };
  }

  async embed(texts: string[], options: EmbedOptions = {}): Promise<InferenceEmbedResult> {
    const params = parseOrThrow(
      inferenceEmbedParamsSchema,
      { texts, priority: options.priority ?? this.#defaultPriority },
      'INVALID_PARAMS',
      '`embed` texts',
    );
    const raw = await this.#transport.request(INFERENCE_METHODS.embed, params, requestOptions(options));
    const result = parseOrThrow(inferenceEmbedResultSchema, raw, 'INVALID_RESPONSE', '`inference.embed` response');
    if (result.vectors.length !== texts.length) {
      throw new ClawError(
        'INVALID_RESPONSE',
        `Invalid \`inference.embed\` response: ${result.vectors.length} vectors for ${texts.length} texts`,
      );
    }
    return result;
  }

  /** This agent's inference totals since the orchestrator started. */
  async usage(options: { signal?: AbortSignal } = {}): Promise<InferenceUsageResult> {
    const raw = await this.#transport.request(INFERENCE_METHODS.usage, {}, requestOptions(options));
    return parseOrThrow(inferenceUsageResultSchema, raw, 'INVALID_RESPONSE', '`inference.usage` response');
  }

  /** The orchestrator's slot pool and queue, read-only (counts and models; nothing about other agents). */
  async status(options: { signal?: AbortSignal } = {}): Promise<InferenceStatusResult> {
    const raw = await this.#transport.request(INFERENCE_METHODS.status, {}, requestOptions(options));
    return parseOrThrow(inferenceStatusResultSchema, raw, 'INVALID_RESPONSE', '`inference.status` response');
  }

  #generateFields(options: GenerateOptions) {
    return {
      priority: options.priority ?? this.#defaultPriority,
      ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
      ...(options.maxTokens === undefined ? {} : { maxTokens: options.maxTokens }),
      ...(options.seed === undefined ? {} : { seed: options.seed }),
    };
  }

  async #streamed<Result>(
    method: string,
    params: unknown,
    options: GenerateOptions,
    schema: ZodType<Result>,
  ): Promise<Result> {
    // A malformed delta cancels the request: the stream can no longer be trusted.
    const local = new AbortController();
    const signal = options.signal === undefined ? local.signal : AbortSignal.any([options.signal, local.signal]);
    let deltaError: ClawError | undefined;
    const onDelta = (data: unknown): void => {
      if (deltaError !== undefined) return;
      const parsed = inferenceDeltaSchema.safeParse(data);
      if (!parsed.success) {
        deltaError = new ClawError('INVALID_RESPONSE', `Invalid \`${method}\` delta: expected { text: string }`);
        local.abort(deltaError);
        return;
      }
      options.onDelta?.(parsed.data.text);
    };
    let raw: unknown;
    try {
      raw = await this.#transport.request(method, params, { ...requestOptions(options), signal, onDelta });
    } catch (error) {
      throw deltaError ?? error;
    }
    if (deltaError !== undefined) throw deltaError;
    return parseOrThrow(schema, raw, 'INVALID_RESPONSE', `\`${method}\` response`);
  }
}

function requestOptions(options: { signal?: AbortSignal; timeoutMs?: number }) {
  return {
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  };
}
