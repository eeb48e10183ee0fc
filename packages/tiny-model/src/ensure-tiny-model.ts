import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveTinyModelOptions, type TinyModelOptions } from './tiny-model-options.ts';
import { buildTinyModel, writeTinyModel } from './write-tiny-model.ts';

/**
 * Bumped whenever the generator's output changes for the same options, so cached files made by
 * an older generator get a new name instead of being mistaken for current ones.
 */
export const TINY_MODEL_GENERATOR_VERSION = 1;

/** The cache file name for these options: `tiny-<variant>-<hash of options and generator version>.gguf`. */
export function tinyModelFileName(options: TinyModelOptions = {}): string {
  const resolved = resolveTinyModelOptions(options);
  const key = JSON.stringify({ generator: TINY_MODEL_GENERATOR_VERSION, ...resolved });
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 16);
  return `tiny-${resolved.variant}-${hash}.gguf`;
}

/**
 * Returns the path of the tiny model for `options` in `directory`, writing it only when the file is
 * absent or its bytes differ from what the generator produces (a truncated or edited file is
 * replaced). Safe to call from several processes at once: writes are atomic renames of identical bytes.
 */
export async function ensureTinyModel(directory: string, options: TinyModelOptions = {}): Promise<string> {
  const path = join(directory, tinyModelFileName(options));
  const expected = buildTinyModel(options);
  let existing: Buffer | undefined;
  try {
    existing = await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (existing === undefined || !existing.equals(expected)) await writeTinyModel(path, options);
  return path;
}
