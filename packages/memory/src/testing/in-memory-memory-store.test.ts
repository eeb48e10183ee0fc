import { describeEmbedderContract } from './embedder-contract.ts';
import { HashingEmbedder } from './hashing-embedder.ts';
import { InMemoryMemoryDatabase } from './in-memory-memory-store.ts';
import { describeMemoryStoreContract } from './memory-store-contract.ts';

describeMemoryStoreContract('InMemoryMemoryStore (fake)', async () => {
  const database = new InMemoryMemoryDatabase();
  return { open: async (agent) => database.storeFor(agent), dispose: async () => {} };
});

describeEmbedderContract('HashingEmbedder (fake)', () => new HashingEmbedder());
