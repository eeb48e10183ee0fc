/**
 * Tables of inference recording for replay: one `inference_record` per model call an agent made
 * (everything needed to run it again: the model file's hash, the engine, every sampling parameter,
 * the seed, the grammar, the prompt's hashes, the output), and `inference_text`, the texts behind
 * those hashes (prefix, prompt, JSON schema), stored once per content hash and pruned by the
 * orchestrator's prompt retention setting. Part of the one schema in tables.ts.
 *
 * Both are private: prompts hold agents' private memories, so only admins (the orchestrator that
 * writes them, the CLI that replays them) read them.
 */
import { type Infer, t, table } from 'spacetimedb';

export const inferenceRecordColumns = {
  id: t.u64().primaryKey().autoInc(),
  /** The request id the service gave the call; `cycle_inference.request_id` and `inference_usage.request_id` join on it. */
  request_id: t.string().unique(),
  agent: t.string().index('btree'),
  /** generate | structured */
  method: t.string(),
  /** The configured model id. */
  model: t.string(),
  /** sha256 (hex) of the GGUF file the model was loaded from, computed once per load. */
  model_sha256: t.string(),
  /** What ran it, e.g. `node-llama-cpp 3.21.1`. */
  engine: t.string(),
  /** cpu | cuda | metal | vulkan | fake */
  backend: t.string(),
  /** Threads llama.cpp ran with (another count can change float rounding, hence the output). */
  threads: t.u32(),
  /** Tokens of context per slot of the model at the time. */
  context_size: t.u32(),
  temperature: t.f64(),
  top_p: t.option(t.f64()),
  /** The seed sampling ran with: the caller's, the agent's setting, or one the service chose. */
  seed: t.u32(),
  max_tokens: t.u32(),
  /** sha256 of the JSON schema (canonical JSON) the grammar was built from; none for free text. */
  grammar_sha256: t.option(t.string()),
  /** sha256 of the prefix (the identity prelude); none when the call had none. */
  prefix_sha256: t.option(t.string()),
  /** sha256 of the prompt after the prefix. */
  prompt_sha256: t.string(),
  /** The generated text as the service returned it. */
  output: t.string(),
  output_sha256: t.string(),
  /** The generated token ids, when the engine reports them (node-llama-cpp does). */
  output_tokens: t.array(t.u32()),
  /** eos | max-tokens */
  stop_reason: t.string(),
  tokens_in: t.u32(),
  tokens_out: t.u32(),
  /** Prompt tokens the slot already held (a replay may evaluate them afresh). */
  tokens_reused: t.u32(),
  created_at: t.timestamp(),
};
const inferenceRecordOptions = { name: 'inference_record', public: false } as const;
export const inferenceRecord: ReturnType<typeof table<typeof inferenceRecordColumns, typeof inferenceRecordOptions>> =
  table(inferenceRecordOptions, inferenceRecordColumns);
export type InferenceRecordRow = Infer<typeof inferenceRecordColumns>;

/**
 * A text an inference record refers to by hash. The same identity prefix or schema serves thousands
 * of calls and is stored once; `last_used_at` moves with each call, and retention deletes prefixes
 * and prompts unused for longer than it keeps them (schemas are kept: they hold no memories).
 */
export const inferenceTextColumns = {
  /** sha256 (hex) of the text's UTF-8 bytes. */
  sha256: t.string().primaryKey(),
  /** prefix | prompt | schema */
  kind: t.string(),
  text: t.string(),
  created_at: t.timestamp(),
  last_used_at: t.timestamp(),
};
const inferenceTextOptions = { name: 'inference_text', public: false } as const;
export const inferenceText: ReturnType<typeof table<typeof inferenceTextColumns, typeof inferenceTextOptions>> = table(
  inferenceTextOptions,
  inferenceTextColumns,
);
export type InferenceTextRow = Infer<typeof inferenceTextColumns>;

export type InferenceRecordTables = {
  inference_record: typeof inferenceRecord;
  inference_text: typeof inferenceText;
};

export const inferenceRecordTables: InferenceRecordTables = {
  inference_record: inferenceRecord,
  inference_text: inferenceText,
};
