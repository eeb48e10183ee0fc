import { describeBusClientContract } from '../testing/bus-client-contract.ts';
import { SpacetimeDbBusClient } from './spacetimedb-bus-client.ts';

/**
 * The contract suite against a real SpacetimeDB with db-module published:
 *   SPACETIMEDB_URL=ws://localhost:3000       the server
 *   SPACETIMEDB_DATABASE=clawfleet            the database name it was published as (default clawfleet)
 *   SPACETIMEDB_ADMIN_TOKEN=...               the publisher's token (the module owner is the first admin)
 * Skipped, with the reason printed, when SPACETIMEDB_URL is not set.
 */
const uri = process.env.SPACETIMEDB_URL;
const databaseName = process.env.SPACETIMEDB_DATABASE ?? 'clawfleet';
const adminToken = process.env.SPACETIMEDB_ADMIN_TOKEN;

function skipReason(): string | undefined {
  if (!uri) return 'SPACETIMEDB_URL is not set (no SpacetimeDB server to test against)';
  if (!adminToken)
    return 'SPACETIMEDB_ADMIN_TOKEN is not set (the token that published db-module is needed to register agents)';
  return undefined;
}

describeBusClientContract('SpacetimeDB', {
  skipReason: skipReason(),
  createHarness: async () => ({
    connectAdmin: () =>
      SpacetimeDbBusClient.connect({ uri: uri as string, databaseName, name: 'orchestrator', token: adminToken }),
    connect: (name) => SpacetimeDbBusClient.connect({ uri: uri as string, databaseName, name }),
    dispose: async () => {},
  }),
});
