export type {
  BusCacheView,
  BusClient,
  BusRow,
  BusSubscription,
  CallReducerOptions,
  SubscribeOptions,
  SubscriptionCallbacks,
} from './bus-client.ts';
export {
  type BusClientContractHarness,
  type BusClientContractOptions,
  describeBusClientContract,
} from './contract/bus-client-contract.ts';
export { EmbeddedBusClient, type EmbeddedBusClientOptions } from './embedded/embedded-bus-client.ts';
export { SpacetimeDbBusClient, type SpacetimeDbBusClientOptions } from './spacetimedb/spacetimedb-bus-client.ts';
