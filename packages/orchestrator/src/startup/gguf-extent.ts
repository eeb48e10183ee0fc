import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/**
 * Reads a GGUF file's header, metadata and tensor table (not the tensor data) and returns how many
 * bytes the file must have to hold every tensor it declares. Pure TypeScript, in milliseconds, so
 * a truncated model is found before the inference worker is forked; node-llama-cpp (two seconds
 * just to import) is left to the worker. Throws a plain Error saying what is wrong with the bytes.
 *
 * Only tensor types whose block size is certain are measured; a tensor of another type is
 * required to start inside the file, no more, so a valid model is never refused for a size this
 * code does not know.
 */
export function ggufRequiredBytes(path: string): { fileBytes: number; requiredBytes: number; tensors: number } {
  const descriptor = openSync(path, 'r');
  try {
    const fileBytes = fstatSync(descriptor).size;
    const reader = new Reader(descriptor, fileBytes);
    if (reader.bytes(4).toString('latin1') !== 'GGUF') throw new Error('not a GGUF file');
    const version = reader.u32();
    if (version < 2 || version > 3) throw new Error(`GGUF version ${version}; llama.cpp reads versions 2 and 3`);
    const tensorCount = reader.count();
    const metadataCount = reader.count();
    let alignment = 32;
    for (let index = 0; index < metadataCount; index++) {
      const key = reader.string();
      const type = reader.u32();
      if (key === 'general.alignment' && type === 4) alignment = reader.u32();
      else reader.skipValue(type);
    }
    const tensors: { offset: number; bytes: number | undefined }[] = [];
    for (let index = 0; index < tensorCount; index++) {
      reader.string();
      const dimensions = reader.u32();
      if (dimensions > 8) throw new Error(`tensor ${index} has ${dimensions} dimensions`);
      let elements = 1;
      for (let dimension = 0; dimension < dimensions; dimension++) elements *= reader.count();
      const type = reader.u32();
      const offset = reader.count();
      const layout = TYPE_LAYOUT[type];
      tensors.push({ offset, bytes: layout ? Math.ceil(elements / layout[0]) * layout[1] : undefined });
    }
    const dataStart = Math.ceil(reader.position / alignment) * alignment;
    let requiredBytes = dataStart;
    for (const tensor of tensors) {
      requiredBytes = Math.max(requiredBytes, dataStart + tensor.offset + (tensor.bytes ?? 1));
    }
    return { fileBytes, requiredBytes, tensors: tensorCount };
  } finally {
    closeSync(descriptor);
  }
}

/** ggml type id -> [elements per block, bytes per block], for the types whose layout is certain. */
const TYPE_LAYOUT: Record<number, readonly [number, number]> = {
  0: [1, 4], // F32
  1: [1, 2], // F16
  2: [32, 18], // Q4_0
  3: [32, 20], // Q4_1
  6: [32, 22], // Q5_0
  7: [32, 24], // Q5_1
  8: [32, 34], // Q8_0
  10: [256, 84], // Q2_K
  11: [256, 110], // Q3_K
  12: [256, 144], // Q4_K
  13: [256, 176], // Q5_K
  14: [256, 210], // Q6_K
  15: [256, 292], // Q8_K
  24: [1, 1], // I8
  25: [1, 2], // I16
  26: [1, 4], // I32
  27: [1, 8], // I64
  28: [1, 8], // F64
  30: [1, 2], // BF16
};

/** Bytes of each fixed-size metadata value type. */
const FIXED_VALUE_BYTES: Record<number, number> = {
  0: 1,
  1: 1,
  2: 2,
  3: 2,
  4: 4,
  5: 4,
  6: 4,
  7: 1,
  10: 8,
  11: 8,
  12: 8,
};
const STRING = 8;
const ARRAY = 9;

/** A forward-only reader over a file descriptor with a 1 MiB window; fails cleanly at the end of the file. */
class Reader {
  position = 0;
  readonly #descriptor: number;
  readonly #size: number;
  #window = Buffer.alloc(0);
  #windowStart = 0;

  constructor(descriptor: number, size: number) {
    this.#descriptor = descriptor;
    this.#size = size;
  }

  bytes(length: number): Buffer {
    if (this.position + length > this.#size) throw new Error(`ends inside its header at byte ${this.#size}`);
    let offset = this.position - this.#windowStart;
    if (offset < 0 || offset + length > this.#window.length) {
      const windowLength = Math.min(Math.max(length, 1024 * 1024), this.#size - this.position);
      this.#window = Buffer.alloc(windowLength);
      readSync(this.#descriptor, this.#window, 0, windowLength, this.position);
      this.#windowStart = this.position;
      offset = 0;
    }
    this.position += length;
    return this.#window.subarray(offset, offset + length);
  }

  u32(): number {
    return this.bytes(4).readUInt32LE(0);
  }

  /** A u64 count, length or offset; refused above 2^53 (no real file has one). */
  count(): number {
    const value = this.bytes(8).readBigUInt64LE(0);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`holds an impossible size (${value})`);
    return Number(value);
  }

  string(): string {
    const length = this.count();
    if (length > this.#size) throw new Error(`holds a string of ${length} bytes, longer than the file`);
    return this.bytes(length).toString('utf8');
  }

  skip(length: number): void {
    if (this.position + length > this.#size) throw new Error(`ends inside its header at byte ${this.#size}`);
    this.position += length;
  }

  skipValue(type: number): void {
    const fixed = FIXED_VALUE_BYTES[type];
    if (fixed !== undefined) {
      this.skip(fixed);
    } else if (type === STRING) {
      this.skip(this.count());
    } else if (type === ARRAY) {
      const itemType = this.u32();
      const items = this.count();
      const itemBytes = FIXED_VALUE_BYTES[itemType];
      if (itemBytes !== undefined) this.skip(items * itemBytes);
      else for (let index = 0; index < items; index++) this.skipValue(itemType);
    } else {
      throw new Error(`holds a metadata value of unknown type ${type}`);
    }
  }
}
