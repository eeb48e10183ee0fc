import { describe, expect, it } from 'vitest';
import { float16BitsToFloat32, float32ToFloat16Bits } from './float16.ts';
import { GgufWriter } from './gguf-writer.ts';

/** A minimal reader written against the spec, independent of the writer's code paths. */
function readGguf(bytes: Uint8Array) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 0;
  const u32 = () => {
    const value = view.getUint32(offset, true);
    offset += 4;
    return value;
  };
  const u64 = () => {
    const value = Number(view.getBigUint64(offset, true));
    offset += 8;
    return value;
  };
  const string = () => {
    const length = u64();
    const value = new TextDecoder().decode(bytes.subarray(offset, offset + length));
    offset += length;
    return value;
  };
  const scalar = (type: number): unknown => {
    switch (type) {
      case 4:
        return u32();
      case 5: {
        const value = view.getInt32(offset, true);
        offset += 4;
        return value;
      }
      case 6: {
        const value = view.getFloat32(offset, true);
        offset += 4;
        return value;
      }
      case 7:
        return bytes[offset++] === 1;
      case 8:
        return string();
      case 10:
        return u64();
      default:
        throw new Error(`type ${type}`);
    }
  };
  const magic = u32();
  const version = u32();
  const tensorCount = u64();
  const metadataCount = u64();
  const metadata: Record<string, unknown> = {};
  for (let index = 0; index < metadataCount; index += 1) {
    const key = string();
    const type = u32();
    if (type === 9) {
      const itemType = u32();
      const length = u64();
      metadata[key] = Array.from({ length }, () => scalar(itemType));
    } else {
      metadata[key] = scalar(type);
    }
  }
  const tensors = Array.from({ length: tensorCount }, () => {
    const name = string();
    const dimensions = Array.from({ length: u32() }, () => u64());
    return { name, dimensions, type: u32(), offset: u64() };
  });
  const dataStart = Math.ceil(offset / 32) * 32;
  return { magic, version, metadata, tensors, dataStart, view };
}

describe('GgufWriter', () => {
  it('writes header, typed metadata and aligned tensor data that a spec reader gets back', () => {
    const bytes = new GgufWriter()
      .set('general.architecture', { kind: 'string', value: 'llama' })
      .set('answer', { kind: 'uint32', value: 42 })
      .set('negative', { kind: 'int32', value: -3 })
      .set('flag', { kind: 'bool', value: true })
      .set('big', { kind: 'uint64', value: 2n ** 40n })
      .set('ratio', { kind: 'float32', value: 0.5 })
      .set('words', { kind: 'array', of: 'string', values: ['a', '\u2581b'] })
      .set('ids', { kind: 'array', of: 'int32', values: [1, -2, 3] })
      .addTensor({ name: 'three', dimensions: [3], type: 'f32', data: Float32Array.from([1, 2, 3]) })
      .addTensor({ name: 'matrix', dimensions: [2, 2], type: 'f16', data: Float32Array.from([0.5, -1, 2, 65504]) })
      .toBytes();
    const file = readGguf(bytes);
    expect(file.magic).toBe(0x46554747);
    expect(file.version).toBe(3);
    expect(file.metadata).toEqual({
      'general.architecture': 'llama',
      answer: 42,
      negative: -3,
      flag: true,
      big: 2 ** 40,
      ratio: 0.5,
      words: ['a', '\u2581b'],
      ids: [1, -2, 3],
    });
    expect(file.tensors).toEqual([
      { name: 'three', dimensions: [3], type: 0, offset: 0 },
      { name: 'matrix', dimensions: [2, 2], type: 1, offset: 32 },
    ]);
    const three = [0, 1, 2].map((index) => file.view.getFloat32(file.dataStart + index * 4, true));
    expect(three).toEqual([1, 2, 3]);
    const matrix = [0, 1, 2, 3].map((index) =>
      float16BitsToFloat32(file.view.getUint16(file.dataStart + 32 + index * 2, true)),
    );
    expect(matrix).toEqual([0.5, -1, 2, 65504]);
    expect(bytes.length).toBe(file.dataStart + 64);
  });

  it('refuses a tensor whose data does not fill its dimensions, and duplicate names', () => {
    const writer = new GgufWriter();
    expect(() => writer.addTensor({ name: 't', dimensions: [2, 3], type: 'f32', data: new Float32Array(5) })).toThrow(
      'Tensor `t` has 5 values for dimensions [2, 3] (6)',
    );
    writer.set('k', { kind: 'bool', value: true });
    expect(() => writer.set('k', { kind: 'bool', value: false })).toThrow('Metadata key `k` is set twice');
  });
});

describe('float32ToFloat16Bits', () => {
  it.each([
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff],
    [1e6, 0x7c00],
    [2 ** -24, 0x0001],
    [2 ** -26, 0x0000],
    [Number.POSITIVE_INFINITY, 0x7c00],
  ])('converts %d to 0x%s', (value, bits) => {
    expect(float32ToFloat16Bits(value)).toBe(bits);
  });

  it('rounds to nearest even and keeps NaN a NaN', () => {
    // 1 + 2^-11 lies halfway between 1 and the next half (1 + 2^-10): ties go to the even mantissa.
    expect(float32ToFloat16Bits(1 + 2 ** -11)).toBe(0x3c00);
    expect(float32ToFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(Number.isNaN(float16BitsToFloat32(float32ToFloat16Bits(Number.NaN)))).toBe(true);
  });
});
