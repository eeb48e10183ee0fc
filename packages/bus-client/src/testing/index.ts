// Test support for every bus client implementation; imports vitest, so it has its own entry.
export {
  type BusClientContractHarness,
  type BusClientContractOptions,
  describeBusClientContract,
} from './bus-client-contract.ts';
export { SpacetimeDbTestServer, type SpacetimeDbTestServerOptions } from './spacetimedb-test-server.ts';
