/**
 * Inference recording for replay: the orchestrator (admin) records each model call an agent made,
 * and prunes the stored prompts its retention setting no longer keeps. Agents cannot write or read
 * these rows: a record is what the orchestrator saw, so an agent cannot forge its own provenance.
 */
import { t } from 'spacetimedb';
import type { ReducerContext } from '../context.ts';
import { defineReducer } from './define-reducer.ts';
import {
  LIMITS,
  reject,
  requireAdmin,
  requireNumberInRange,
  requireOneOf,
  requireRange,
  requireRegisteredAgentName,
  requireText,
} from './guards.ts';

export const RECORDED_METHODS = ['generate', 'structured'] as const;
export const RECORDED_STOP_REASONS = ['eos', 'max-tokens'] as const;
export const INFERENCE_TEXT_KINDS = ['prefix', 'prompt', 'schema'] as const;

/**
 * Longest text one record may store (prefix, prompt or schema): the inference service refuses
 * prompts over 16 characters per token of context, so this covers contexts up to 64k tokens.
 */
export const MAX_RECORDED_TEXT_LENGTH = 1_048_576;
/** Most output tokens one record keeps (a reply past it is cut by `max_tokens` long before). */
export const MAX_RECORDED_OUTPUT_TOKENS = 1_048_576;
/** Texts one call may store: its prefix, its prompt and its schema. */
const MAX_TEXTS_PER_RECORD = 3;

const SHA256 = /^[0-9a-f]{64}$/;
const REQUEST_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const U32_MAX = 0xffff_ffff;

export const inferenceTextInput = t.object('InferenceTextInput', {
  sha256: t.string(),
  kind: t.string(),
  text: t.string(),
});

function requireSha256(field: string, value: string): void {
  if (!SHA256.test(value)) {
    reject(
      `Expected \`${field}\` to be a sha256 in 64 lowercase hex digits, got ${JSON.stringify(value.slice(0, 80))}`,
    );
  }
}

/** Stores a text once per hash; a text seen again only has its `last_used_at` moved. */
function keepText(ctx: ReducerContext, input: { sha256: string; kind: string; text: string }): void {
  const existing = ctx.db.inference_text.sha256.find(input.sha256);
  if (existing === null) {
    ctx.db.inference_text.insert({ ...input, created_at: ctx.timestamp, last_used_at: ctx.timestamp });
  } else {
    ctx.db.inference_text.sha256.update({ ...existing, last_used_at: ctx.timestamp });
  }
}

/**
 * One model call of an agent, recorded for replay. `texts` carries the prefix, prompt and schema
 * whose hashes the record names, unless the retention setting keeps hashes only; each text given
 * must be one the record names, under the kind it is named as.
 */
export const recordInferenceCall = defineReducer(
  {
    request_id: t.string(),
    agent: t.string(),
    method: t.string(),
    model: t.string(),
    model_sha256: t.string(),
    engine: t.string(),
    backend: t.string(),
    threads: t.u32(),
    context_size: t.u32(),
    temperature: t.f64(),
    top_p: t.option(t.f64()),
    seed: t.u32(),
    max_tokens: t.u32(),
    grammar_sha256: t.option(t.string()),
    prefix_sha256: t.option(t.string()),
    prompt_sha256: t.string(),
    output: t.string(),
    output_sha256: t.string(),
    output_tokens: t.array(t.u32()),
    stop_reason: t.string(),
    tokens_in: t.u32(),
    tokens_out: t.u32(),
    tokens_reused: t.u32(),
    texts: t.array(inferenceTextInput),
  },
  (ctx, { texts, ...record }) => {
    requireAdmin(ctx, 'record inference calls');
    if (!REQUEST_ID_PATTERN.test(record.request_id)) {
      reject(`Expected \`request_id\` to be a lowercase UUID, got ${JSON.stringify(record.request_id.slice(0, 80))}`);
    }
    if (ctx.db.inference_record.request_id.find(record.request_id) !== null) {
      reject(`Request ${record.request_id} is already recorded`);
    }
    requireRegisteredAgentName(ctx, 'agent', record.agent);
    requireOneOf('method', record.method, RECORDED_METHODS);
    requireText('model', record.model, LIMITS.shortTextLength);
    requireSha256('model_sha256', record.model_sha256);
    requireText('engine', record.engine, LIMITS.shortTextLength);
    requireText('backend', record.backend, LIMITS.nameLength);
    requireRange('threads', record.threads, 1, 1_024);
    requireRange('context_size', record.context_size, 1, U32_MAX);
    requireNumberInRange('temperature', record.temperature, 0, 2);
    if (record.top_p !== undefined) requireNumberInRange('top_p', record.top_p, 0, 1);
    requireRange('max_tokens', record.max_tokens, 1, LIMITS.maxTokens);
    if (record.grammar_sha256 !== undefined) requireSha256('grammar_sha256', record.grammar_sha256);
    if (record.method === 'structured' && record.grammar_sha256 === undefined) {
      reject('Expected a `grammar_sha256` for a structured call');
    }
    if (record.prefix_sha256 !== undefined) requireSha256('prefix_sha256', record.prefix_sha256);
    requireSha256('prompt_sha256', record.prompt_sha256);
    if (record.output.length > MAX_RECORDED_TEXT_LENGTH) {
      reject(`Expected \`output\` to be at most ${MAX_RECORDED_TEXT_LENGTH} characters, got ${record.output.length}`);
    }
    requireSha256('output_sha256', record.output_sha256);
    if (record.output_tokens.length > MAX_RECORDED_OUTPUT_TOKENS) {
      reject(`Expected at most ${MAX_RECORDED_OUTPUT_TOKENS} \`output_tokens\`, got ${record.output_tokens.length}`);
    }
    requireOneOf('stop_reason', record.stop_reason, RECORDED_STOP_REASONS);
    requireRange('tokens_in', record.tokens_in, 0, LIMITS.maxTokens);
    requireRange('tokens_out', record.tokens_out, 0, LIMITS.maxTokens);
    requireRange('tokens_reused', record.tokens_reused, 0, record.tokens_in);
    if (texts.length > MAX_TEXTS_PER_RECORD) {
      reject(`Expected at most ${MAX_TEXTS_PER_RECORD} \`texts\` (prefix, prompt, schema), got ${texts.length}`);
    }
    const named = { prefix: record.prefix_sha256, prompt: record.prompt_sha256, schema: record.grammar_sha256 };
    for (const [index, text] of texts.entries()) {
      const kind = requireOneOf(`texts[${index}].kind`, text.kind, INFERENCE_TEXT_KINDS);
      requireSha256(`texts[${index}].sha256`, text.sha256);
      if (named[kind] !== text.sha256) {
        reject(
          `Expected \`texts[${index}]\` to be the record's ${kind} (${named[kind] ?? 'none'}), got ${text.sha256}`,
        );
      }
      if (text.text.length > MAX_RECORDED_TEXT_LENGTH) {
        reject(
          `Expected \`texts[${index}].text\` to be at most ${MAX_RECORDED_TEXT_LENGTH} characters, got ${text.text.length}`,
        );
      }
    }
    ctx.db.inference_record.insert({ id: 0n, ...record, created_at: ctx.timestamp });
    for (const text of texts) keepText(ctx, text);
  },
);

/**
 * Deletes the stored prefixes and prompts not used for `keep_seconds` (0: all of them, for a
 * retention of hashes only). Records keep their hashes; a replay of a call whose prompt is gone is
 * refused, naming the retention. JSON schemas are kept: they hold no memories.
 */
export const pruneInferenceTexts = defineReducer({ keep_seconds: t.u32() }, (ctx, { keep_seconds }) => {
  requireAdmin(ctx, 'prune stored prompts');
  const cutoff = ctx.timestamp.microsSinceUnixEpoch - BigInt(keep_seconds) * 1_000_000n;
  const expired = [...ctx.db.inference_text.iter()].filter(
    (row) => row.kind !== 'schema' && (keep_seconds === 0 || row.last_used_at.microsSinceUnixEpoch < cutoff),
  );
  for (const row of expired) ctx.db.inference_text.sha256.delete(row.sha256);
});
