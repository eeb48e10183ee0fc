import type { EmbeddedDatabase } from '@clawfleet/embedded-bus';
import {
  type AdminReplayResult,
  type BusRow,
  ClawError,
  type ReplayCall,
  type ReplayDivergence,
  type ReplayEngine,
} from '@clawfleet/protocol';
import type { PromptRetention } from '../config/config.ts';
import type { GenerateResult, LoadedModel } from '../inference/backend.ts';
import type { InferenceService, ReplayGeneration } from '../inference/service/index.ts';
import { sha256Hex } from './inference-recorder.ts';

export interface CycleReplayOptions {
  database: EmbeddedDatabase;
  /** The identity rows are read as (an admin: the records are private). */
  adminName: string;
  inference: InferenceService;
  /** The identity replays run as (their share of the slot pool): the person asking. */
  caller: string;
  /** Named in the refusal when a prompt is gone. */
  retention: PromptRetention;
  signal?: AbortSignal;
}

/** Characters of context shown on each side of a divergence. */
const SNIPPET_CHARACTERS = 24;

interface PreparedCall {
  index: number;
  phase: string;
  record: BusRow;
  replay: ReplayGeneration;
}

/**
 * Re-runs every inference call of a cycle with its recorded settings (model, sampling, seed,
 * grammar, prefix and prompt) and compares each output with the recorded one. Everything is checked
 * before the first call runs: the cycle exists (NOT_FOUND), each call has a record and its texts are
 * still stored (NOT_RETAINED). A model file other than the recorded one is MODEL_MISMATCH.
 */
export async function replayCycle(cycleId: number, options: CycleReplayOptions): Promise<AdminReplayResult> {
  const { database, adminName } = options;
  const cycle = database.query(adminName, 'cycle', { id: cycleId })[0];
  if (cycle === undefined)
    throw new ClawError('NOT_FOUND', `Cycle ${cycleId} does not exist`, { details: { cycleId } });
  const made = database
    .query(adminName, 'cycle_inference', { cycle_id: cycleId })
    .sort((a, b) => Number(a.id) - Number(b.id));
  if (made.length === 0) {
    throw new ClawError(
      'NOT_FOUND',
      `Cycle ${cycleId} of ${String(cycle.agent)} made no model calls (phase ${String(cycle.phase)}), so there is nothing to replay`,
      { details: { cycleId } },
    );
  }
  const prepared = made.map((row, position) => prepare(row, position + 1, options));
  const calls: ReplayCall[] = [];
  for (const call of prepared) {
    options.signal?.throwIfAborted();
    const { result, model } = await options.inference.replay(options.caller, call.replay, {
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    calls.push(compare(call, result, model));
  }
  return { cycleId, agent: String(cycle.agent), identical: calls.every((call) => call.identical), calls };
}

function prepare(row: BusRow, index: number, options: CycleReplayOptions): PreparedCall {
  const { database, adminName } = options;
  const requestId = String(row.request_id);
  const label = `Call ${index} (${String(row.phase)}${requestId === '' ? '' : `, request ${requestId}`})`;
  const record =
    requestId === '' ? undefined : database.query(adminName, 'inference_record', { request_id: requestId })[0];
  if (record === undefined) {
    throw new ClawError(
      'NOT_RETAINED',
      `${label} has no inference record: it was made before this version recorded calls for replay, or it never reached the model`,
      { details: { index, requestId } },
    );
  }
  const text = (kind: string, hash: unknown): string | undefined => {
    if (hash === null || hash === undefined) return undefined;
    const stored = database.query(adminName, 'inference_text', { sha256: String(hash) })[0];
    if (stored === undefined) {
      const kept =
        options.retention === 'hash-only'
          ? 'prompt retention is `hash-only`'
          : options.retention === 'forever'
            ? 'it was deleted'
            : `prompts are kept ${options.retention} days after their last use`;
      throw new ClawError(
        'NOT_RETAINED',
        `${label}: its ${kind} (sha256 ${String(hash)}) is no longer stored (${kept}), so it cannot be replayed`,
        { details: { index, requestId, kind, sha256: String(hash) } },
      );
    }
    const value = String(stored.text);
    if (sha256Hex(value) !== String(hash)) {
      throw new ClawError('NOT_RETAINED', `${label}: the stored ${kind} no longer matches its sha256 ${String(hash)}`, {
        details: { index, requestId, kind },
      });
    }
    return value;
  };
  const prefix = text('prefix', record.prefix_sha256);
  const prompt = text('prompt', record.prompt_sha256) as string;
  const schema = text('schema', record.grammar_sha256);
  const topP = record.top_p === null || record.top_p === undefined ? undefined : Number(record.top_p);
  return {
    index,
    phase: String(row.phase),
    record,
    replay: {
      modelId: String(record.model),
      fileSha256: String(record.model_sha256),
      sampling: {
        temperature: Number(record.temperature),
        ...(topP === undefined ? {} : { topP }),
        seed: Number(record.seed),
        maxTokens: Number(record.max_tokens),
      },
      ...(schema === undefined ? {} : { jsonSchema: JSON.parse(schema) as Record<string, unknown> }),
      ...(prefix === undefined ? {} : { prefix }),
      prompt,
    },
  };
}

function compare(call: PreparedCall, result: GenerateResult, model: LoadedModel): ReplayCall {
  const { record } = call;
  const recordedTokens = Array.isArray(record.output_tokens) ? record.output_tokens.map(Number) : [];
  const replayedTokens = result.outputTokens ?? [];
  const recorded = { text: String(record.output), tokens: recordedTokens, stopReason: String(record.stop_reason) };
  const replayed = { text: result.text, tokens: replayedTokens, stopReason: result.stopReason };
  const divergence = divergenceOf(recorded, replayed);
  const recordedEngine: ReplayEngine = {
    modelSha256: String(record.model_sha256),
    engine: String(record.engine),
    backend: String(record.backend),
    threads: Number(record.threads),
  };
  const replayEngine: ReplayEngine = {
    modelSha256: model.fileSha256,
    engine: `${model.engine.name} ${model.engine.version}`,
    backend: model.engine.backend,
    threads: model.engine.threads,
  };
  const engineDifferences: string[] = [];
  if (recordedEngine.engine !== replayEngine.engine) {
    engineDifferences.push(`engine ${recordedEngine.engine} → ${replayEngine.engine}`);
  }
  if (recordedEngine.backend !== replayEngine.backend) {
    engineDifferences.push(`backend ${recordedEngine.backend} → ${replayEngine.backend}`);
  }
  if (recordedEngine.threads !== replayEngine.threads) {
    engineDifferences.push(`threads ${recordedEngine.threads} → ${replayEngine.threads}`);
  }
  const { sampling } = call.replay;
  return {
    index: call.index,
    phase: call.phase,
    requestId: String(record.request_id),
    method: String(record.method),
    model: String(record.model),
    seed: sampling.seed,
    temperature: sampling.temperature,
    ...(sampling.topP === undefined ? {} : { topP: sampling.topP }),
    maxTokens: sampling.maxTokens,
    identical: divergence === undefined,
    recorded,
    replayed,
    ...(divergence === undefined ? {} : { divergence }),
    recordedEngine,
    replayEngine,
    engineDifferences,
  };
}

/**
 * Where two outputs first differ, or undefined when they are identical: the same text, the same
 * stop reason and, when both have token ids, the same tokens.
 */
export function divergenceOf(
  recorded: { text: string; tokens: readonly number[]; stopReason: string },
  replayed: { text: string; tokens: readonly number[]; stopReason: string },
): ReplayDivergence | undefined {
  const compareTokens = recorded.tokens.length > 0 && replayed.tokens.length > 0;
  const tokenIndex = compareTokens ? firstDifference(recorded.tokens, replayed.tokens) : -1;
  const characterIndex = firstDifference(recorded.text, replayed.text);
  if (characterIndex === -1 && tokenIndex === -1 && recorded.stopReason === replayed.stopReason) return undefined;
  const at = characterIndex === -1 ? Math.min(recorded.text.length, replayed.text.length) : characterIndex;
  const start = Math.max(0, at - SNIPPET_CHARACTERS);
  const snippet = (text: string): string => text.slice(start, at + SNIPPET_CHARACTERS);
  return {
    characterIndex: at,
    ...(tokenIndex === -1
      ? {}
      : {
          tokenIndex,
          ...(tokenIndex < recorded.tokens.length ? { recordedToken: recorded.tokens[tokenIndex] } : {}),
          ...(tokenIndex < replayed.tokens.length ? { replayedToken: replayed.tokens[tokenIndex] } : {}),
        }),
    recordedSnippet: snippet(recorded.text),
    replayedSnippet: snippet(replayed.text),
  };
}

/** Index of the first element that differs (a length difference counts at the shorter length); -1 if equal. */
function firstDifference<T>(a: ArrayLike<T>, b: ArrayLike<T>): number {
  const length = Math.min(a.length, b.length);
  for (let index = 0; index < length; index++) if (a[index] !== b[index]) return index;
  return a.length === b.length ? -1 : length;
}
