export { ensureTinyModel, TINY_MODEL_GENERATOR_VERSION, tinyModelFileName } from './ensure-tiny-model.ts';
export type { GgufMetadataValue } from './gguf/gguf-value-type.ts';
export { type GgufTensor, GgufWriter } from './gguf/gguf-writer.ts';
export {
  type ResolvedTinyModelOptions,
  resolveTinyModelOptions,
  TINY_MODEL_DEFAULTS,
  type TinyModelOptions,
  type TinyModelVariant,
} from './tiny-model-options.ts';
export { buildTinyModel, writeTinyModel } from './write-tiny-model.ts';
