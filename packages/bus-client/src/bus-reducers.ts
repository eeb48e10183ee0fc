import { busReducerNames } from '@clawfleet/db-module';
import type { BusReducerName, BusReducers, CallReducerOptions } from './bus-client.ts';

type Call = (reducer: BusReducerName, args: never, options?: CallReducerOptions) => Promise<void>;

function camelCase(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_match, letter: string) => letter.toUpperCase());
}

/** The `reducers` object of a client: one method per client reducer, each a direct `callReducer`. */
export function createBusReducers(call: Call): BusReducers {
  const reducers: Record<string, (args: never, options?: CallReducerOptions) => Promise<void>> = {};
  for (const name of busReducerNames) reducers[camelCase(name)] = (args, options) => call(name, args, options);
  return Object.freeze(reducers) as unknown as BusReducers;
}
