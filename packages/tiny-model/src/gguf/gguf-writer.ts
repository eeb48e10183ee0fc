import { ByteBuilder } from './byte-builder.ts';
import { float32ToFloat16Bits } from './float16.ts';
import {
  GGML_TENSOR_TYPE,
  GGUF_VALUE_TYPE,
  type GgmlTensorTypeName,
  type GgufMetadataValue,
} from './gguf-value-type.ts';

/** A tensor to store; `dimensions` are in ggml order (ne[0] is the row length, the fastest-varying). */
export interface GgufTensor {
  name: string;
  dimensions: readonly number[];
  type: GgmlTensorTypeName;
  data: Float32Array;
}

const encoder = new TextEncoder();

/**
 * Writes a GGUF v3 file: header, metadata key-values, tensor infos, padding to the alignment,
 * then each tensor's data at an aligned offset relative to the data section.
 *
 * Invariant: the output depends only on the entries and their order (no clock, no randomness),
 * so a deterministic caller gets byte-identical files.
 */
export class GgufWriter {
  static readonly MAGIC = 0x46554747; // "GGUF" read as a little-endian uint32
  static readonly VERSION = 3;

  readonly #metadata: [string, GgufMetadataValue][] = [];
  readonly #tensors: GgufTensor[] = [];
  readonly #alignment: number;

  /** @param alignment data alignment in bytes; written as `general.alignment` when not 32. */
  constructor(alignment = 32) {
    if (!Number.isInteger(alignment) || alignment <= 0 || alignment % 8 !== 0) {
      throw new RangeError(`Expected \`alignment\` to be a positive multiple of 8, got ${alignment}`);
    }
    this.#alignment = alignment;
    if (alignment !== 32) this.set('general.alignment', { kind: 'uint32', value: alignment });
  }

  set(key: string, value: GgufMetadataValue): this {
    if (this.#metadata.some(([existing]) => existing === key)) {
      throw new RangeError(`Metadata key \`${key}\` is set twice`);
    }
    this.#metadata.push([key, value]);
    return this;
  }

  addTensor(tensor: GgufTensor): this {
    const elements = tensor.dimensions.reduce((product, dimension) => product * dimension, 1);
    if (elements !== tensor.data.length) {
      throw new RangeError(
        `Tensor \`${tensor.name}\` has ${tensor.data.length} values for dimensions [${tensor.dimensions.join(', ')}] (${elements})`,
      );
    }
    if (this.#tensors.some((existing) => existing.name === tensor.name)) {
      throw new RangeError(`Tensor \`${tensor.name}\` is added twice`);
    }
    this.#tensors.push(tensor);
    return this;
  }

  toBytes(): Uint8Array {
    const out = new ByteBuilder(1 << 16);
    out.uint32(GgufWriter.MAGIC);
    out.uint32(GgufWriter.VERSION);
    out.uint64(BigInt(this.#tensors.length));
    out.uint64(BigInt(this.#metadata.length));
    for (const [key, value] of this.#metadata) {
      writeString(out, key);
      writeValue(out, value);
    }

    let dataOffset = 0;
    const offsets: number[] = [];
    for (const tensor of this.#tensors) {
      offsets.push(dataOffset);
      dataOffset = alignUp(dataOffset + tensorByteLength(tensor), this.#alignment);
    }
    this.#tensors.forEach((tensor, index) => {
      writeString(out, tensor.name);
      out.uint32(tensor.dimensions.length);
      for (const dimension of tensor.dimensions) out.uint64(BigInt(dimension));
      out.uint32(GGML_TENSOR_TYPE[tensor.type]);
      out.uint64(BigInt(offsets[index] ?? 0));
    });

    out.pad(this.#alignment);
    for (const tensor of this.#tensors) {
      writeTensorData(out, tensor);
      out.pad(this.#alignment);
    }
    return out.toBytes();
  }
}

function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}

function tensorByteLength(tensor: GgufTensor): number {
  return tensor.data.length * (tensor.type === 'f32' ? 4 : 2);
}

function writeString(out: ByteBuilder, value: string): void {
  const bytes = encoder.encode(value);
  out.uint64(BigInt(bytes.length));
  out.bytes(bytes);
}

function writeValue(out: ByteBuilder, value: GgufMetadataValue): void {
  switch (value.kind) {
    case 'uint32':
      out.uint32(GGUF_VALUE_TYPE.uint32);
      out.uint32(value.value);
      return;
    case 'int32':
      out.uint32(GGUF_VALUE_TYPE.int32);
      out.int32(value.value);
      return;
    case 'float32':
      out.uint32(GGUF_VALUE_TYPE.float32);
      out.float32(value.value);
      return;
    case 'uint64':
      out.uint32(GGUF_VALUE_TYPE.uint64);
      out.uint64(value.value);
      return;
    case 'bool':
      out.uint32(GGUF_VALUE_TYPE.bool);
      out.uint8(value.value ? 1 : 0);
      return;
    case 'string':
      out.uint32(GGUF_VALUE_TYPE.string);
      writeString(out, value.value);
      return;
    case 'array':
      out.uint32(GGUF_VALUE_TYPE.array);
      out.uint32(GGUF_VALUE_TYPE[value.of]);
      out.uint64(BigInt(value.values.length));
      if (value.of === 'string') {
        for (const item of value.values) writeString(out, item);
      } else {
        const write = value.of === 'float32' ? out.float32.bind(out) : out.int32.bind(out);
        for (let index = 0; index < value.values.length; index += 1) write(value.values[index] ?? 0);
      }
      return;
  }
}

function writeTensorData(out: ByteBuilder, tensor: GgufTensor): void {
  if (tensor.type === 'f32') {
    for (const value of tensor.data) out.float32(value);
  } else {
    for (const value of tensor.data) out.uint16(float32ToFloat16Bits(value));
  }
}
