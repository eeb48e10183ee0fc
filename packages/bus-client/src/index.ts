export type {
  BusCacheView,
  BusClient,
  BusRow,
  BusSubscription,
  CallReducerOptions,
  SubscribeOptions,
  SubscriptionCallbacks,
} from './bus-client.ts';
// The contract suite imports vitest, so it has its own entry: `@clawfleet/bus-client/contract`.
export { EmbeddedBusClient, type EmbeddedBusClientOptions } from './embedded/embedded-bus-client.ts';
export { SpacetimeDbBusClient, type SpacetimeDbBusClientOptions } from './spacetimedb/spacetimedb-bus-client.ts';
