import { parseArgs } from 'node:util';
import { ClawError, describeValue } from '@clawfleet/protocol';
import { resolveTinyModelOptions, type TinyModelOptions } from './tiny-model-options.ts';

export const GENERATE_MODEL_USAGE = `Usage: generate-model <output.gguf> [options]

Writes a tiny llama GGUF model with random weights, deterministic from the seed.

Options:
  --seed <n>               weights seed, 0-4294967295 (default 1)
  --embedding-length <n>   hidden size (default 64)
  --blocks <n>             transformer blocks (default 2)
  --heads <n>              attention heads (default 4)
  --kv-heads <n>           key/value heads, dividing --heads (default 2)
  --feed-forward <n>       feed-forward size (default 128)
  --context-length <n>     training context length (default 4096)
  --variant <name>         standard | aborts-on-first-use (default standard)
  --help                   print this text`;

const NUMERIC_FLAGS = {
  seed: 'seed',
  'embedding-length': 'embeddingLength',
  blocks: 'blockCount',
  heads: 'headCount',
  'kv-heads': 'headCountKv',
  'feed-forward': 'feedForwardLength',
  'context-length': 'contextLength',
} as const satisfies Record<string, keyof TinyModelOptions>;

export type GenerateModelArguments = { help: true } | { help: false; outputPath: string; options: TinyModelOptions };

/** Parses the CLI arguments; throws CONFIG_INVALID with a message naming the flag. */
export function parseGenerateModelArguments(argv: readonly string[]): GenerateModelArguments {
  let parsed: ReturnType<
    typeof parseArgs<{ options: Record<string, { type: 'string' | 'boolean' }>; allowPositionals: true }>
  >;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        ...Object.fromEntries(Object.keys(NUMERIC_FLAGS).map((flag) => [flag, { type: 'string' as const }])),
        variant: { type: 'string' },
        help: { type: 'boolean' },
      },
    });
  } catch (error) {
    throw new ClawError('CONFIG_INVALID', (error as Error).message, { cause: error });
  }
  if (parsed.values.help === true) return { help: true };
  if (parsed.positionals.length !== 1) {
    throw new ClawError(
      'CONFIG_INVALID',
      `Expected exactly one output path, got ${parsed.positionals.length} (${parsed.positionals.join(' ') || 'none'})`,
    );
  }
  const outputPath = parsed.positionals[0] as string;
  if (!outputPath.endsWith('.gguf')) {
    throw new ClawError('CONFIG_INVALID', `Expected the output path to end in .gguf, got ${describeValue(outputPath)}`);
  }
  const options: Record<string, unknown> = {};
  for (const [flag, option] of Object.entries(NUMERIC_FLAGS)) {
    const text = parsed.values[flag];
    if (text === undefined) continue;
    if (typeof text !== 'string' || !/^\d+$/.test(text)) {
      throw new ClawError(
        'CONFIG_INVALID',
        `Expected \`--${flag}\` to be a non-negative integer, got ${describeValue(text)}`,
      );
    }
    options[option] = Number(text);
  }
  if (parsed.values.variant !== undefined) options.variant = parsed.values.variant;
  // Cross-option checks (heads dividing the hidden size...) throw CONFIG_INVALID naming the options.
  resolveTinyModelOptions(options as TinyModelOptions);
  return { help: false, outputPath, options: options as TinyModelOptions };
}
