import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClawError } from '@clawfleet/protocol';

/** Bytes read per chunk: large enough that hashing, not the stream, sets the pace. */
const CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * sha256 (hex) of a model file, streamed so a multi-gigabyte GGUF never sits in memory. A replay
 * compares it with the hash recorded with each call: the same id and path may hold other weights.
 * It runs while llama.cpp loads the same file, which it reads through the page cache.
 */
export async function hashModelFile(path: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: CHUNK_BYTES, signal })) {
      hash.update(chunk as Buffer);
    }
  } catch (error) {
    throw new ClawError(
      'MODEL_NOT_FOUND',
      `Model file ${path} could not be read to hash it: ${error instanceof Error ? error.message : String(error)}`,
      { details: { path }, cause: error },
    );
  }
  return hash.digest('hex');
}

/** The node-llama-cpp version this worker runs, from its package.json (recorded with each call). */
export async function nodeLlamaCppVersion(): Promise<string> {
  // `node-llama-cpp/package.json` is not in its exports map; its entry is `dist/index.js`.
  const entry = fileURLToPath(import.meta.resolve('node-llama-cpp'));
  const manifest = JSON.parse(await readFile(join(dirname(entry), '..', 'package.json'), 'utf8')) as {
    version?: unknown;
  };
  return typeof manifest.version === 'string' ? manifest.version : 'unknown';
}
