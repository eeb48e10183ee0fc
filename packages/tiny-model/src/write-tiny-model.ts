import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DeterministicRandom } from './deterministic-random.ts';
import { GgufWriter } from './gguf/gguf-writer.ts';
import { resolveTinyModelOptions, type TinyModelOptions } from './tiny-model-options.ts';
import { buildTokenizerVocabulary, CHATML_TEMPLATE, SPECIAL_TOKEN_IDS } from './tokenizer-vocabulary.ts';

/**
 * Builds the bytes of a tiny llama-architecture GGUF model with random weights.
 *
 * Weight matrices are F16 (half the size; llama.cpp's CPU kernels take them directly), 1-D norm
 * tensors F32 as llama.cpp requires (the `aborts-on-first-use` variant breaks exactly that).
 * Norm weights are 1 so activations keep unit scale; matrices are uniform with variance 1/fan-in,
 * and the output projection is scaled up so the next-token distribution is peaked: greedy
 * decoding then rarely meets near-ties, which keeps outputs stable across batch layouts.
 */
export function buildTinyModel(options: TinyModelOptions = {}): Uint8Array {
  const resolved = resolveTinyModelOptions(options);
  const { embeddingLength: embd, feedForwardLength: ff, headCount, headCountKv, blockCount } = resolved;
  const headDimension = embd / headCount;
  const kvDimension = headDimension * headCountKv;
  const vocabulary = buildTokenizerVocabulary();
  const vocabularySize = vocabulary.tokens.length;
  const random = new DeterministicRandom(resolved.seed);
  const normType = resolved.variant === 'aborts-on-first-use' ? 'f16' : 'f32';

  const writer = new GgufWriter();
  writer
    .set('general.architecture', { kind: 'string', value: 'llama' })
    .set('general.name', { kind: 'string', value: `clawfleet-tiny-${resolved.seed}` })
    // LLAMA_FTYPE_MOSTLY_F16
    .set('general.file_type', { kind: 'uint32', value: 1 })
    .set('llama.context_length', { kind: 'uint32', value: resolved.contextLength })
    .set('llama.embedding_length', { kind: 'uint32', value: embd })
    .set('llama.block_count', { kind: 'uint32', value: blockCount })
    .set('llama.feed_forward_length', { kind: 'uint32', value: ff })
    .set('llama.attention.head_count', { kind: 'uint32', value: headCount })
    .set('llama.attention.head_count_kv', { kind: 'uint32', value: headCountKv })
    .set('llama.rope.dimension_count', { kind: 'uint32', value: headDimension })
    .set('llama.rope.freq_base', { kind: 'float32', value: 10000 })
    .set('llama.attention.layer_norm_rms_epsilon', { kind: 'float32', value: 1e-5 })
    .set('llama.vocab_size', { kind: 'uint32', value: vocabularySize })
    .set('tokenizer.ggml.model', { kind: 'string', value: 'llama' })
    .set('tokenizer.ggml.tokens', { kind: 'array', of: 'string', values: vocabulary.tokens })
    .set('tokenizer.ggml.scores', { kind: 'array', of: 'float32', values: vocabulary.scores })
    .set('tokenizer.ggml.token_type', { kind: 'array', of: 'int32', values: vocabulary.types })
    .set('tokenizer.ggml.unknown_token_id', { kind: 'uint32', value: SPECIAL_TOKEN_IDS.unknown })
    .set('tokenizer.ggml.bos_token_id', { kind: 'uint32', value: SPECIAL_TOKEN_IDS.beginOfSequence })
    .set('tokenizer.ggml.eos_token_id', { kind: 'uint32', value: SPECIAL_TOKEN_IDS.endOfSequence })
    .set('tokenizer.ggml.add_bos_token', { kind: 'bool', value: true })
    .set('tokenizer.ggml.add_eos_token', { kind: 'bool', value: false })
    .set('tokenizer.ggml.add_space_prefix', { kind: 'bool', value: false })
    .set('tokenizer.chat_template', { kind: 'string', value: CHATML_TEMPLATE });

  const matrix = (name: string, columns: number, rows: number, gain = 1): void => {
    // ggml order: ne[0] = columns (input size, the fan-in), ne[1] = rows.
    const data = new Float32Array(columns * rows);
    const scale = gain * Math.sqrt(3 / columns);
    for (let index = 0; index < data.length; index += 1) data[index] = random.symmetric(scale);
    writer.addTensor({ name, dimensions: [columns, rows], type: 'f16', data });
  };
  const norm = (name: string): void => {
    writer.addTensor({ name, dimensions: [embd], type: normType, data: new Float32Array(embd).fill(1) });
  };

  const embeddings = new Float32Array(embd * vocabularySize);
  for (let index = 0; index < embeddings.length; index += 1) embeddings[index] = random.symmetric(1);
  writer.addTensor({ name: 'token_embd.weight', dimensions: [embd, vocabularySize], type: 'f16', data: embeddings });
  for (let block = 0; block < blockCount; block += 1) {
    const prefix = `blk.${block}`;
    norm(`${prefix}.attn_norm.weight`);
    matrix(`${prefix}.attn_q.weight`, embd, embd);
    matrix(`${prefix}.attn_k.weight`, embd, kvDimension);
    matrix(`${prefix}.attn_v.weight`, embd, kvDimension);
    matrix(`${prefix}.attn_output.weight`, embd, embd);
    norm(`${prefix}.ffn_norm.weight`);
    matrix(`${prefix}.ffn_gate.weight`, embd, ff);
    matrix(`${prefix}.ffn_up.weight`, embd, ff);
    matrix(`${prefix}.ffn_down.weight`, ff, embd);
  }
  norm('output_norm.weight');
  matrix('output.weight', embd, vocabularySize, 4);
  return writer.toBytes();
}

/**
 * Writes a tiny model to `path` (creating its folder). The file appears atomically: it is written
 * under a temporary name and renamed, so a concurrent reader never sees half a model.
 */
export async function writeTinyModel(path: string, options: TinyModelOptions = {}): Promise<void> {
  const bytes = buildTinyModel(options);
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.${Date.now()}.partial`;
  await writeFile(temporary, bytes);
  await rename(temporary, path);
}
