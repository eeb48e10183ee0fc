export {
  BusService,
  type BusServiceDatabase,
  type BusServiceOptions,
  type ServiceReducerCall,
  type ServiceReducerCallResult,
  type ServiceRowChange,
} from './bus-service.ts';
export {
  type ServiceRow,
  type SubscriberConnection,
  type Subscription,
  SubscriptionRegistry,
} from './subscription-registry.ts';
