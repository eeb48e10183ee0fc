import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedBusClient } from '@clawfleet/bus-client';
import { BusService, EmbeddedDatabase, identityForName } from '@clawfleet/embedded-bus';
import { InferenceClient } from '@clawfleet/inference-client';
import { IpcClient, IpcServer, tokenAuthenticator } from '@clawfleet/ipc';
import { AgentMemory, BusMemoryStore, InferenceSummarizer, MemoryCompactor, type Summarizer } from '@clawfleet/memory';
import { HashingEmbedder } from '@clawfleet/memory/testing';
import { InferenceService, SlotPool } from '@clawfleet/orchestrator';
import { FakeInferenceBackend } from '@clawfleet/orchestrator/testing';
import { afterEach, describe, expect, it } from 'vitest';

/**
 * Compaction against the real parts around it: the embedded bus (SQLite, reducers, views) and the
 * real inference service and priority slot pool, with the fake backend behind the pool. One slot, so
 * who gets it next is decided by the pool's priorities alone.
 */
const tokens = { orchestrator: 'admin-token', OpsClaw: 'ops-token', DevClaw: 'dev-token', LeadClaw: 'lead-token' };
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let attempt = 0; attempt < 1_000 && !condition(); attempt++) await new Promise((r) => setTimeout(r, 5));
  if (!condition()) throw new Error(`Timed out waiting for ${what}`);
}

async function host() {
  const directory = mkdtempSync(join(tmpdir(), 'claw-compaction-'));
  const socketPath = join(directory, 'orchestrator.sock');
  const database = EmbeddedDatabase.open({ path: join(directory, 'bus.sqlite') });
  const backend = new FakeInferenceBackend({ checkPaths: false, millisecondsPerToken: 2, outputTokens: 2_000 });
  const pool = await SlotPool.create({
    backend,
    models: [{ id: 'main', path: '/models/main.gguf', contextSize: 4096, slots: 1, gpuLayers: 0 }],
  });
  const sampling = { maxTokens: 2_000 };
  const settings = {
    agents: Object.fromEntries(
      ['OpsClaw', 'DevClaw', 'LeadClaw'].map((agent) => [agent, { modelId: 'main', sampling }]),
    ),
    // Priority human is for a person (the CLI); here LeadClaw's connection stands in for one.
    humans: ['LeadClaw'],
  };
  const inference = new InferenceService({ pool, settings });
  const server = new IpcServer({ socketPath, authenticate: tokenAuthenticator(tokens) });
  const bus = new BusService({ database, server, identityForName });
  inference.register(server);
  await server.listen();
  cleanups.push(
    () => rmSync(directory, { recursive: true, force: true }),
    () => database.close(),
    () => backend.dispose(),
    () => pool.dispose(),
    () => bus.dispose(),
    () => server.close({ timeoutMs: 1_000 }),
  );
  const connectBus = async (name: keyof typeof tokens) => {
    const client = await EmbeddedBusClient.connect({ socketPath, name, token: tokens[name] });
    cleanups.push(() => client.dispose());
    return client;
  };
  const connectInference = async (agent: keyof typeof tokens) => {
    const ipc = await IpcClient.connect({ socketPath, agent, token: tokens[agent], reconnect: false });
    cleanups.push(() => ipc.close());
    return new InferenceClient(ipc);
  };
  const admin = await connectBus('orchestrator');
  for (const name of ['OpsClaw', 'DevClaw', 'LeadClaw']) {
    await admin.callReducer('register_agent', { name, identity: identityForName(name), role: 'test' });
  }
  return { pool, connectBus, connectInference };
}

describe('memory compaction on the bus and the real slot pool', () => {
  it('keeps provenance and yields the slot to a human-priority request queued after it', async () => {
    const { pool, connectBus, connectInference } = await host();
    const memory = await AgentMemory.open({
      store: new BusMemoryStore({ bus: await connectBus('OpsClaw') }),
      embedder: new HashingEmbedder(),
    });
    cleanups.push(() => memory.dispose());
    const sources = [];
    for (let index = 0; index < 6; index++) {
      sources.push(
        await memory.writeNote({ text: `vpn outage ${index} at 02:0${index}`, tier: 'daily', tags: ['vpn'] }),
      );
    }
    const order: string[] = [];
    const real = new InferenceSummarizer({ inference: await connectInference('OpsClaw'), maxTokens: 200 });
    const recording: Summarizer = {
      summarize: async (entries, options) => {
        const summary = await real.summarize(entries, options);
        order.push('compaction');
        return summary;
      },
    };
    const compactor = new MemoryCompactor({ memory, summarizer: recording, thresholdEntries: 4, groupSize: 3 });

    // DevClaw's act request holds the only slot; compaction queues behind it, then a human request.
    const blocker = new AbortController();
    const blocking = (await connectInference('DevClaw'))
      .generate('a long act step', { priority: 'act', signal: blocker.signal })
      .catch(() => order.push('act-cancelled'));
    await until(() => pool.status().running === 1, 'the act request to run');
    const compaction = compactor.run();
    await until(() => pool.status().queued === 1, 'the compaction request to queue');
    const human = (await connectInference('LeadClaw'))
      .generate('a person asks', { priority: 'human', maxTokens: 20 })
      .then(() => order.push('human'));
    await until(() => pool.status().queued === 2, 'the human request to queue');
    blocker.abort();
    await Promise.all([blocking, human]);
    const report = await compaction;

    expect(order).toEqual(['act-cancelled', 'human', 'compaction', 'compaction']);
    expect(report.completed).toHaveLength(2);
    const store = memory.store;
    const long = store.entries().filter((entry) => entry.tier === 'long');
    expect(long.map((entry) => entry.id).sort()).toEqual([...report.written].sort());
    const linked = long.flatMap((entry) => store.links(entry.id).map((link) => [link.kind, link.targetId]));
    expect(linked.map(([kind]) => kind)).toEqual(Array(6).fill('memory'));
    expect(linked.map(([, id]) => id).sort()).toEqual(sources.map((source) => source.id).sort());
    for (const source of sources) expect(store.entry(source.id)).toMatchObject({ archived: true, text: source.text });
    expect(store.compactions().map((run) => run.state)).toEqual(['done', 'done']);
    // The summary came from the model through the pool (the fake's minimal JSON), at compaction priority.
    expect(long.every((entry) => entry.text.length > 0 && entry.tags.includes('vpn'))).toBe(true);
  });
});
