export {
  BusService,
  type BusServiceDatabase,
  type BusServiceOptions,
  type ServiceReducerCall,
  type ServiceReducerCallResult,
} from './bus-service.ts';
export {
  type SubscriberConnection,
  type Subscription,
  SubscriptionRegistry,
} from './subscription-registry.ts';
