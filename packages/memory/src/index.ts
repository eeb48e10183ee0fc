export {
  AgentMemory,
  type AgentMemoryOptions,
  type NoteWrite,
  normalizeTags,
  type RetrieveOptions,
} from './agent-memory.ts';
export {
  type CompactionOptions,
  type CompactionReport,
  MemoryCompactor,
  type MemoryCompactorOptions,
} from './compaction/memory-compactor.ts';
export {
  InferenceSummarizer,
  type InferenceSummarizerOptions,
  SUMMARY_JSON_SCHEMA,
  type Summarizer,
  type Summary,
} from './compaction/summarizer.ts';
export {
  type Embedder,
  type EmbeddingModel,
  type EmbedOptions,
  InferenceEmbedder,
  type InferenceEmbedderOptions,
  normalize,
} from './embedding/embedder.ts';
export {
  type EmbeddingCache,
  type EmbeddingRecord,
  FileEmbeddingCache,
  type FileEmbeddingCacheOptions,
  type StoredEmbedding,
  textDigest,
} from './embedding/embedding-cache.ts';
export * from './memory-entry.ts';
export {
  DEFAULT_RANKING_WEIGHTS,
  explainRetrieval,
  MemoryIndex,
  type MemoryIndexOptions,
  type RankingWeights,
  type RetrievalFilter,
  type RetrievedMemory,
} from './retrieval/memory-index.ts';
export { BusMemoryStore, type BusMemoryStoreOptions } from './store/bus-memory-store.ts';
export type {
  CompactedEntry,
  MemoryStore,
  MemoryStoreChange,
  MemoryUpdate,
  MemoryWrite,
  ReflectionWrite,
  StoreCallOptions,
} from './store/memory-store.ts';
export {
  exportMemories,
  type ImportReport,
  importMemories,
  type MemoryRecord,
  memoryRecordSchema,
  parseMemoryJsonl,
} from './transfer/memory-jsonl.ts';
