export {
  BusService,
  type BusServiceDatabase,
  type BusServiceOptions,
  type ServiceReducerCall,
  type ServiceReducerCallResult,
  type ServiceRowChange,
} from './bus-service.ts';
export type { ServiceRow, SubscriberConnection } from './subscription-registry.ts';
