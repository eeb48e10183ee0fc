export type {
  BusCacheView,
  BusClient,
  BusQuery,
  BusReducerName,
  BusReducers,
  BusRow,
  BusRowOf,
  BusSubscription,
  BusTableName,
  BusTables,
  CallReducerOptions,
  QueriesTables,
  QueryTable,
  ReducerArgs,
  ReducerArguments,
  SubscribeOptions,
  SubscriptionCallbacks,
} from './bus-client.ts';
export {
  EmbeddedBusClient,
  type EmbeddedBusClientAttachOptions,
  type EmbeddedBusClientOptions,
} from './embedded/embedded-bus-client.ts';
export { SpacetimeDbBusClient, type SpacetimeDbBusClientOptions } from './spacetimedb/spacetimedb-bus-client.ts';
// Test support (the contract suite) imports vitest, so it has its own entry: `@clawfleet/bus-client/testing`.
