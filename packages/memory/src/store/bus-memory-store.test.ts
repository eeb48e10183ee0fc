import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedBusClient } from '@clawfleet/bus-client';
import { BusService, EmbeddedDatabase, identityForName } from '@clawfleet/embedded-bus';
import { IpcServer } from '@clawfleet/ipc';
import { describeMemoryStoreContract } from '../testing/memory-store-contract.ts';
import { BusMemoryStore } from './bus-memory-store.ts';

const TOKEN = 'memory-test-token';

/** An embedded bus hosted in this process (temp socket and SQLite file), with Alice and Bob registered. */
async function hostBus() {
  const directory = mkdtempSync(join(tmpdir(), 'claw-memory-'));
  const socketPath = join(directory, 'bus.sock');
  const database = EmbeddedDatabase.open({ path: join(directory, 'bus.sqlite') });
  const server = new IpcServer({ socketPath, authenticate: (_agent, token) => token === TOKEN });
  const service = new BusService({ database, server, identityForName });
  await server.listen();
  const clients: EmbeddedBusClient[] = [];
  const connect = async (name: string) => {
    const client = await EmbeddedBusClient.connect({ socketPath, name, token: TOKEN });
    clients.push(client);
    return client;
  };
  const admin = await connect('orchestrator');
  for (const name of ['Alice', 'Bob']) {
    await admin.callReducer('register_agent', { name, identity: identityForName(name), role: 'test' });
  }
  return {
    connect,
    async dispose() {
      for (const client of clients) await client.dispose();
      await server.close({ timeoutMs: 1_000 });
      service.dispose();
      database.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

describeMemoryStoreContract('BusMemoryStore on the embedded bus', async () => {
  const bus = await hostBus();
  return {
    open: async (agent) => new BusMemoryStore({ bus: await bus.connect(agent) }),
    dispose: () => bus.dispose(),
  };
});
