/**
 * Stored embeddings, so an agent that restarts does not embed every memory again. One file
 * per agent, written by the agent alone: a header naming the model (its key and dimensions) and then
 * one record per embedded entry (memory id, digest of the text embedded, vector), appended as entries
 * are embedded. A record is used only while the model and the entry's text are the ones it was made
 * from; a file made with another model is replaced on the next write.
 *
 * Layout (little-endian): `CLAWEMB1`, u32 header length, header JSON `{version, model, dimensions}`,
 * then records of u64 id, 16 bytes of the text's sha256, `dimensions` f32. A record cut short by a
 * crash is ignored and overwritten.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ClawError, type Logger, silentLogger } from '@clawfleet/protocol';
import { z } from 'zod';
import type { EmbeddingModel } from './embedder.ts';

export interface StoredEmbedding {
  /** sha256 of the embedded text, first 16 bytes, hex. */
  readonly textDigest: string;
  readonly vector: Float32Array;
}

export interface EmbeddingRecord extends StoredEmbedding {
  readonly id: number;
}

/** Where an agent's vectors outlive its process. `FileEmbeddingCache` is the one implementation. */
export interface EmbeddingCache {
  /** The vectors stored for `model`, by memory id; none when the store holds another model's (or nothing). */
  load(model: EmbeddingModel): Promise<Map<number, StoredEmbedding>>;
  /** Adds (or replaces, for the same id) vectors made with `model`. */
  save(model: EmbeddingModel, records: readonly EmbeddingRecord[]): Promise<void>;
  /** Keeps only `records`: drops those of deleted or changed entries. */
  rewrite(model: EmbeddingModel, records: readonly EmbeddingRecord[]): Promise<void>;
}

/** The digest a record keeps of the text it was made from. */
export function textDigest(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 32);
}

const MAGIC = Buffer.from('CLAWEMB1', 'ascii');
const VERSION = 1;
const headerSchema = z.strictObject({
  version: z.literal(VERSION),
  model: z.string().min(1).max(200),
  dimensions: z.number().int().min(1).max(65_536),
});
const MAX_HEADER_BYTES = 4_096;

export interface FileEmbeddingCacheOptions {
  /** The file; its folder is created when missing. */
  path: string;
  logger?: Logger;
}

export class FileEmbeddingCache implements EmbeddingCache {
  readonly path: string;
  readonly #logger: Logger;
  /** What the file holds now: its model and the byte length of its whole records. */
  #state: { model: string; dimensions: number; length: number } | undefined;
  /** Writes in order, one at a time. */
  #chain: Promise<unknown> = Promise.resolve();

  constructor(options: FileEmbeddingCacheOptions) {
    if (typeof options.path !== 'string' || options.path.length === 0) {
      throw new ClawError('INVALID_PARAMS', 'Expected `path` to be a file path, got an empty value');
    }
    this.path = options.path;
    this.#logger = (options.logger ?? silentLogger).child({ component: 'embedding-cache' });
  }

  load(model: EmbeddingModel): Promise<Map<number, StoredEmbedding>> {
    return this.#queue(() => this.#load(model));
  }

  save(model: EmbeddingModel, records: readonly EmbeddingRecord[]): Promise<void> {
    return this.#queue(() => this.#save(model, records));
  }

  rewrite(model: EmbeddingModel, records: readonly EmbeddingRecord[]): Promise<void> {
    return this.#queue(() => this.#write(model, records));
  }

  #queue<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(work);
    this.#chain = run.catch(() => undefined);
    return run;
  }

  async #load(model: EmbeddingModel): Promise<Map<number, StoredEmbedding>> {
    const found = new Map<number, StoredEmbedding>();
    let bytes: Buffer;
    try {
      bytes = await readFile(this.path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return found;
      throw new ClawError('INTERNAL', `Could not read the embedding cache ${this.path}`, { cause: error });
    }
    const header = parseHeader(bytes);
    if (header === undefined) {
      this.#logger.warn({ path: this.path }, 'embedding cache unreadable; it is replaced');
      return found;
    }
    if (header.model !== model.key || header.dimensions !== model.dimensions) {
      this.#logger.info(
        { path: this.path, stored: header.model, model: model.key },
        'embedding cache made with another model; it is replaced',
      );
      return found;
    }
    const recordBytes = recordSize(model.dimensions);
    const count = Math.floor((bytes.length - header.offset) / recordBytes);
    for (let index = 0; index < count; index++) {
      const start = header.offset + index * recordBytes;
      const id = Number(bytes.readBigUInt64LE(start));
      const digest = bytes.toString('hex', start + 8, start + 24);
      // Copied out: the records must not keep the whole file alive, and f32 reads need alignment.
      const vector = new Float32Array(model.dimensions);
      for (let dimension = 0; dimension < model.dimensions; dimension++) {
        vector[dimension] = bytes.readFloatLE(start + 24 + dimension * 4);
      }
      if (!vector.every(Number.isFinite)) continue;
      found.set(id, { textDigest: digest, vector });
    }
    this.#state = { model: model.key, dimensions: model.dimensions, length: header.offset + count * recordBytes };
    return found;
  }

  async #save(model: EmbeddingModel, records: readonly EmbeddingRecord[]): Promise<void> {
    if (records.length === 0) return;
    if (this.#state === undefined) await this.#load(model);
    const state = this.#state;
    if (state === undefined || state.model !== model.key || state.dimensions !== model.dimensions) {
      await this.#write(model, records);
      return;
    }
    const body = encodeRecords(model, records);
    const file = await open(this.path, 'r+');
    try {
      // At the end of the last whole record: a record a crash cut short is overwritten.
      await file.write(body, 0, body.length, state.length);
      await file.truncate(state.length + body.length);
    } finally {
      await file.close();
    }
    state.length += body.length;
  }

  async #write(model: EmbeddingModel, records: readonly EmbeddingRecord[]): Promise<void> {
    const header = Buffer.from(JSON.stringify({ version: VERSION, model: model.key, dimensions: model.dimensions }));
    const length = Buffer.alloc(4);
    length.writeUInt32LE(header.length);
    const body = encodeRecords(model, records);
    const temporary = `${this.path}.${process.pid}.tmp`;
    try {
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      await writeFile(temporary, Buffer.concat([MAGIC, length, header, body]), { mode: 0o600 });
      await rename(temporary, this.path);
    } catch (error) {
      await rm(temporary, { force: true });
      throw new ClawError('INTERNAL', `Could not write the embedding cache ${this.path}`, { cause: error });
    }
    this.#state = {
      model: model.key,
      dimensions: model.dimensions,
      length: MAGIC.length + 4 + header.length + body.length,
    };
  }
}

function recordSize(dimensions: number): number {
  return 8 + 16 + dimensions * 4;
}

function parseHeader(bytes: Buffer): { model: string; dimensions: number; offset: number } | undefined {
  if (bytes.length < MAGIC.length + 4 || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  const length = bytes.readUInt32LE(MAGIC.length);
  const offset = MAGIC.length + 4 + length;
  if (length > MAX_HEADER_BYTES || offset > bytes.length) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8', MAGIC.length + 4, offset));
  } catch {
    return undefined;
  }
  const header = headerSchema.safeParse(json);
  return header.success ? { model: header.data.model, dimensions: header.data.dimensions, offset } : undefined;
}

function encodeRecords(model: EmbeddingModel, records: readonly EmbeddingRecord[]): Buffer {
  const size = recordSize(model.dimensions);
  const body = Buffer.alloc(size * records.length);
  records.forEach((record, index) => {
    if (record.vector.length !== model.dimensions) {
      throw new ClawError(
        'INVALID_PARAMS',
        `Expected a vector of ${model.dimensions} dimensions for memory ${record.id}, got ${record.vector.length}`,
      );
    }
    if (!/^[0-9a-f]{32}$/.test(record.textDigest)) {
      throw new ClawError(
        'INVALID_PARAMS',
        `Expected \`textDigest\` to be 32 hex digits, got \`${record.textDigest}\``,
      );
    }
    const start = index * size;
    body.writeBigUInt64LE(BigInt(record.id), start);
    body.write(record.textDigest, start + 8, 16, 'hex');
    for (let dimension = 0; dimension < model.dimensions; dimension++) {
      body.writeFloatLE(record.vector[dimension]!, start + 24 + dimension * 4);
    }
  });
  return body;
}
