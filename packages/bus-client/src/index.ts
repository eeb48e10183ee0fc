export type {
  BusCacheView,
  BusClient,
  BusRow,
  BusSubscription,
  CallReducerOptions,
  SubscribeOptions,
  SubscriptionCallbacks,
} from './bus-client.ts';
export { EmbeddedBusClient, type EmbeddedBusClientOptions } from './embedded/embedded-bus-client.ts';
