/**
 * GGUF metadata value types (gguf_type in ggml's gguf.h). The numbers are part of the file format.
 */
export const GGUF_VALUE_TYPE = {
  uint8: 0,
  int8: 1,
  uint16: 2,
  int16: 3,
  uint32: 4,
  int32: 5,
  float32: 6,
  bool: 7,
  string: 8,
  array: 9,
  uint64: 10,
  int64: 11,
  float64: 12,
} as const;

/** Tensor element types (ggml_type) this writer can store. */
export const GGML_TENSOR_TYPE = {
  f32: 0,
  f16: 1,
} as const;

export type GgmlTensorTypeName = keyof typeof GGML_TENSOR_TYPE;

/** Scalar metadata kinds the writer supports; arrays hold one kind. */
export type GgufScalarKind = 'uint32' | 'int32' | 'uint64' | 'float32' | 'bool' | 'string';

export type GgufMetadataValue =
  | { kind: 'uint32' | 'int32' | 'float32'; value: number }
  | { kind: 'uint64'; value: bigint }
  | { kind: 'bool'; value: boolean }
  | { kind: 'string'; value: string }
  | { kind: 'array'; of: 'string'; values: readonly string[] }
  | { kind: 'array'; of: 'float32' | 'int32'; values: ArrayLike<number> };
