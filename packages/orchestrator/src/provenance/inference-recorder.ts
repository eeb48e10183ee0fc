import { createHash } from 'node:crypto';
import type { EmbeddedDatabase } from '@clawfleet/embedded-bus';
import type { Logger } from '@clawfleet/protocol';
import type { PromptRetention } from '../config/config.ts';
import type { RecordedGeneration } from '../inference/service/index.ts';

export interface InferenceRecorderOptions {
  database: EmbeddedDatabase;
  /** The admin identity the records are written as (the orchestrator). */
  adminName: string;
  retention: PromptRetention;
  /** Identities whose calls are not recorded (the CLI: a person, not an agent). */
  skip?: readonly string[];
  logger: Logger;
  /** How often stored prompts past retention are pruned. @default 1 hour */
  pruneIntervalMs?: number;
}

const SECONDS_PER_DAY = 86_400;
/** Distinct prefixes and schemas whose hash is kept: one per agent and phase is plenty. */
const MAX_CACHED_HASHES = 256;

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * The text a JSON schema is recorded (and replayed) as: `JSON.stringify` of the schema as given.
 * Not a canonical (sorted) form, because property order is part of the grammar: the model must
 * write the properties in the order the schema lists them.
 */
export function schemaText(schema: Record<string, unknown>): string {
  return JSON.stringify(schema);
}

/**
 * Writes one `inference_record` per agent model call (with its prefix, prompt and schema in
 * `inference_text` unless retention keeps hashes only), and prunes stored prompts past retention at
 * start and every hour. Recording never fails a call: a write that fails is logged.
 */
export class InferenceRecorder {
  readonly #options: InferenceRecorderOptions;
  readonly #skip: ReadonlySet<string>;
  readonly #logger: Logger;
  /** Prefixes and schemas repeat on every call of an agent: hash each once. */
  readonly #hashes = new Map<string, string>();
  #timer: NodeJS.Timeout | undefined;

  constructor(options: InferenceRecorderOptions) {
    this.#options = options;
    this.#skip = new Set(options.skip ?? []);
    this.#logger = options.logger.child({ component: 'inference-recorder' });
  }

  /** Prunes now, then every `pruneIntervalMs`, until `dispose()`. */
  startPruning(): void {
    this.prune();
    this.#timer = setInterval(() => this.prune(), this.#options.pruneIntervalMs ?? 3_600_000);
    this.#timer.unref();
  }

  /** Deletes stored prefixes and prompts the retention no longer keeps. */
  prune(): void {
    const { retention } = this.#options;
    if (retention === 'forever') return;
    const keepSeconds = retention === 'hash-only' ? 0 : retention * SECONDS_PER_DAY;
    try {
      this.#options.database.callReducer(this.#options.adminName, 'prune_inference_texts', {
        keep_seconds: keepSeconds,
      });
    } catch (error) {
      this.#logger.warn({ err: error }, 'could not prune stored prompts');
    }
  }

  record(call: RecordedGeneration): void {
    if (this.#skip.has(call.agent)) return;
    const keepTexts = this.#options.retention !== 'hash-only';
    const prefix = call.prefix !== undefined && call.prefix.length > 0 ? call.prefix : undefined;
    const schema = call.jsonSchema === undefined ? undefined : schemaText(call.jsonSchema);
    const prefixHash = prefix === undefined ? undefined : this.#cachedHash(prefix);
    const schemaHash = schema === undefined ? undefined : this.#cachedHash(schema);
    const promptHash = sha256Hex(call.prompt);
    const texts: { sha256: string; kind: string; text: string }[] = [];
    if (keepTexts && prefix !== undefined && prefixHash !== undefined) {
      texts.push({ sha256: prefixHash, kind: 'prefix', text: prefix });
    }
    if (keepTexts) texts.push({ sha256: promptHash, kind: 'prompt', text: call.prompt });
    // Schemas hold no memories: kept whatever the retention, so a record says what its grammar was.
    if (schema !== undefined && schemaHash !== undefined)
      texts.push({ sha256: schemaHash, kind: 'schema', text: schema });
    const { result, model, sampling } = call;
    try {
      this.#options.database.callReducer(this.#options.adminName, 'record_inference_call', {
        request_id: call.requestId,
        agent: call.agent,
        method: call.method,
        model: model.id,
        model_sha256: model.fileSha256,
        engine: `${model.engine.name} ${model.engine.version}`,
        backend: model.engine.backend,
        threads: model.engine.threads,
        context_size: model.contextSize,
        temperature: sampling.temperature,
        ...(sampling.topP === undefined ? {} : { top_p: sampling.topP }),
        seed: sampling.seed,
        max_tokens: sampling.maxTokens,
        ...(schemaHash === undefined ? {} : { grammar_sha256: schemaHash }),
        ...(prefixHash === undefined ? {} : { prefix_sha256: prefixHash }),
        prompt_sha256: promptHash,
        output: result.text,
        output_sha256: sha256Hex(result.text),
        output_tokens: result.outputTokens ?? [],
        stop_reason: result.stopReason,
        tokens_in: result.tokensIn,
        tokens_out: result.tokensOut,
        tokens_reused: result.tokensReused,
        texts,
      });
    } catch (error) {
      this.#logger.warn(
        { err: error, agent: call.agent, requestId: call.requestId },
        'could not record inference call',
      );
    }
  }

  dispose(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #cachedHash(text: string): string {
    let hash = this.#hashes.get(text);
    if (hash === undefined) {
      hash = sha256Hex(text);
      if (this.#hashes.size >= MAX_CACHED_HASHES) {
        const oldest = this.#hashes.keys().next().value;
        if (oldest !== undefined) this.#hashes.delete(oldest);
      }
      this.#hashes.set(text, hash);
    }
    return hash;
  }
}
