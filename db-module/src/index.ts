// Node-safe entry: what the embedded host and tests import. The SpacetimeDB entry is spacetime-module.ts
// (bundled only; it imports `spacetimedb/server`, which plain Node 20 cannot load).
export type * from './context.ts';
export * from './generated/client-types.ts';
export {
  type ReducerCatalog,
  type ReducerName,
  reducerCatalog,
  scheduleCatalog,
  viewCatalog,
} from './reducer-catalog.ts';
export { defineReducer, type ReducerDefinition, type ReducerKind } from './reducers/define-reducer.ts';
export { LIMITS } from './reducers/guards.ts';
export {
  MEMORY_COMPACTION_STATES,
  MEMORY_LINK_KINDS,
  MEMORY_SCOPES,
  MEMORY_TIERS,
  type MemoryLinkKind,
  type MemoryScope,
  type MemoryTier,
} from './reducers/memory.ts';
export { TASK_STATES, type TaskState } from './reducers/task-states.ts';
export {
  type AlgebraicType,
  type ColumnDescription,
  describeTables,
  type IndexDescription,
  type TableDescription,
} from './table-description.ts';
export * from './tables.ts';
export * from './values.ts';
export * from './visibility.ts';
