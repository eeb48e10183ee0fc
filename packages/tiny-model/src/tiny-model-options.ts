import { ClawError, describeValue } from '@clawfleet/protocol';

export type TinyModelVariant = 'standard' | 'aborts-on-first-use';

export interface TinyModelOptions {
  /** Seed of the weights; same seed and dimensions give a byte-identical file. @default 1 */
  seed?: number;
  /** Hidden size. @default 64 */
  embeddingLength?: number;
  /** Transformer blocks. @default 2 */
  blockCount?: number;
  /** Attention heads. @default 4 */
  headCount?: number;
  /** Key/value heads (grouped-query attention); must divide `headCount`. @default 2 */
  headCountKv?: number;
  /** Feed-forward hidden size. @default 128 */
  feedForwardLength?: number;
  /** Training context length written to the file (the most a context may ask for). @default 4096 */
  contextLength?: number;
  /**
   * `aborts-on-first-use` stores the 1-D norm tensors as F16: llama.cpp loads such a file and then
   * aborts the process on the first evaluation. Only for testing worker isolation.
   * @default 'standard'
   */
  variant?: TinyModelVariant;
}

export type ResolvedTinyModelOptions = Required<TinyModelOptions>;

export const TINY_MODEL_DEFAULTS: ResolvedTinyModelOptions = Object.freeze({
  seed: 1,
  embeddingLength: 64,
  blockCount: 2,
  headCount: 4,
  headCountKv: 2,
  feedForwardLength: 128,
  contextLength: 4096,
  variant: 'standard',
});

const INTEGER_RANGES = {
  seed: [0, 0xffffffff],
  embeddingLength: [8, 8192],
  blockCount: [1, 128],
  headCount: [1, 256],
  headCountKv: [1, 256],
  feedForwardLength: [8, 65536],
  contextLength: [64, 1_048_576],
} as const satisfies Record<string, readonly [number, number]>;

function invalid(message: string, option: string): ClawError {
  return new ClawError('CONFIG_INVALID', message, { details: { option } });
}

/** Fills defaults and checks every option; throws CONFIG_INVALID naming the option. */
export function resolveTinyModelOptions(options: TinyModelOptions = {}): ResolvedTinyModelOptions {
  if (typeof options !== 'object' || options === null) {
    throw invalid(`Expected tiny model options to be an object, got ${describeValue(options)}`, 'options');
  }
  const known = new Set<string>([...Object.keys(INTEGER_RANGES), 'variant']);
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw invalid(`Unknown tiny model option \`${key}\``, key);
  }
  const resolved: ResolvedTinyModelOptions = { ...TINY_MODEL_DEFAULTS };
  for (const [name, [min, max]] of Object.entries(INTEGER_RANGES)) {
    const value = (options as Record<string, unknown>)[name];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw invalid(`Expected \`${name}\` to be an integer ${min}-${max}, got ${describeValue(value)}`, name);
    }
    (resolved as Record<string, unknown>)[name] = value;
  }
  if (options.variant !== undefined) {
    if (options.variant !== 'standard' && options.variant !== 'aborts-on-first-use') {
      throw invalid(
        `Expected \`variant\` to be \`standard\` or \`aborts-on-first-use\`, got ${describeValue(options.variant)}`,
        'variant',
      );
    }
    resolved.variant = options.variant;
  }
  if (resolved.embeddingLength % resolved.headCount !== 0) {
    throw invalid(
      `Expected \`embeddingLength\` (${resolved.embeddingLength}) to be a multiple of \`headCount\` (${resolved.headCount})`,
      'embeddingLength',
    );
  }
  if ((resolved.embeddingLength / resolved.headCount) % 2 !== 0) {
    throw invalid(
      `Expected \`embeddingLength / headCount\` to be even (rotary embeddings rotate pairs), got ${resolved.embeddingLength / resolved.headCount}`,
      'headCount',
    );
  }
  if (resolved.headCountKv > resolved.headCount || resolved.headCount % resolved.headCountKv !== 0) {
    throw invalid(
      `Expected \`headCountKv\` (${resolved.headCountKv}) to divide \`headCount\` (${resolved.headCount})`,
      'headCountKv',
    );
  }
  return Object.freeze(resolved);
}
