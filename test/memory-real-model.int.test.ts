import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedBusClient } from '@clawfleet/bus-client';
import { BusService, EmbeddedDatabase, identityForName } from '@clawfleet/embedded-bus';
import { InferenceClient } from '@clawfleet/inference-client';
import { IpcClient, IpcServer, tokenAuthenticator } from '@clawfleet/ipc';
import { AgentMemory, InferenceEmbedder, InferenceSummarizer, MemoryCompactor } from '@clawfleet/memory';
import { describeEmbedderContract } from '@clawfleet/memory/contract';
import { InferenceService, SlotPool, WorkerBackend } from '@clawfleet/orchestrator';
import { ensureTinyModel } from '@clawfleet/tiny-model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Memory on the real inference path: the inference worker running llama.cpp on the generated tiny
 * model, the slot pool and service, the embedded bus. The tiny model's vectors carry no meaning, so
 * this proves the path (entries and queries embedded by the model, the vectors used in ranking), not
 * ranking quality (the labelled set in packages/memory does that with a deterministic embedder).
 */
const tokens = { orchestrator: 'admin-token', DevClaw: 'dev-token' };
const directory = mkdtempSync(join(tmpdir(), 'claw-memory-model-'));
const cleanups: (() => Promise<void> | void)[] = [];
let inference: InferenceClient;
let bus: EmbeddedBusClient;

beforeAll(async () => {
  const path = await ensureTinyModel(join(tmpdir(), 'clawfleet-test-models'));
  const backend = await WorkerBackend.start({ gpu: false, maxThreads: 1 });
  cleanups.push(() => backend.dispose());
  const pool = await SlotPool.create({
    backend,
    models: [{ id: 'tiny', path, contextSize: 2048, slots: 2, gpuLayers: 0 }],
  });
  cleanups.push(() => pool.dispose());
  const service = new InferenceService({
    pool,
    settings: { agents: { DevClaw: { modelId: 'tiny', sampling: { maxTokens: 700, temperature: 0.7, seed: 7 } } } },
  });
  const database = EmbeddedDatabase.open({ path: join(directory, 'bus.sqlite') });
  cleanups.push(() => database.close());
  const socketPath = join(directory, 'orchestrator.sock');
  const server = new IpcServer({ socketPath, authenticate: tokenAuthenticator(tokens) });
  const busService = new BusService({ database, server, identityForName });
  service.register(server);
  await server.listen();
  cleanups.push(
    () => server.close({ timeoutMs: 1_000 }),
    () => busService.dispose(),
  );
  const admin = await EmbeddedBusClient.connect({ socketPath, name: 'orchestrator', token: tokens.orchestrator });
  await admin.callReducer('register_agent', { name: 'DevClaw', identity: identityForName('DevClaw'), role: 'dev' });
  await admin.dispose();
  bus = await EmbeddedBusClient.connect({ socketPath, name: 'DevClaw', token: tokens.DevClaw });
  const ipc = await IpcClient.connect({ socketPath, agent: 'DevClaw', token: tokens.DevClaw, reconnect: false });
  cleanups.push(
    () => bus.dispose(),
    () => ipc.close(),
  );
  inference = new InferenceClient(ipc);
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  rmSync(directory, { recursive: true, force: true });
});

describeEmbedderContract('InferenceEmbedder on the tiny model', () => new InferenceEmbedder({ inference }));

describe('agent memory on the real model', () => {
  it('embeds entries and queries through inference.embed and finds a reflection as memory', async () => {
    const memory = await AgentMemory.openOnBus({ bus, inference });
    try {
      const notes = [
        await memory.writeNote({ text: 'the staging VPN drops at 2am', tier: 'daily', tags: ['vpn'] }),
        await memory.writeNote({ text: 'deploys to staging need the VPN up', tier: 'daily', tags: ['vpn'] }),
      ];
      const reflection = await memory.recordReflection({
        text: 'Deploy failed: VPN was down; check it first next time',
        importance: 0.9,
        tags: ['lesson'],
      });
      await memory.whenIndexed();
      expect(memory.pendingEmbeddings).toBe(0);
      const [best] = await memory.retrieve('deploy failed VPN down', { limit: 3 });
      expect(best?.entry.id).toBe(reflection.id);
      // The vector side ran: the model embedded both the entries and the query.
      expect(best?.signals.similarity).not.toBeNull();
      expect(memory.vector(reflection.id)).toHaveLength(64);
      const staging = await memory.retrieve('staging VPN', { limit: 5 });
      expect(staging.map((result) => result.entry.id)).toEqual(expect.arrayContaining(notes.map((note) => note.id)));
    } finally {
      await memory.dispose();
    }
  });
});

describe('memory compaction on the real model', () => {
  // The summary schema bounds `summary` to 500 characters. Before the worker kept the byte-level
  // model's output valid UTF-8, the grammar counted an invalid sequence as one character and
  // the decoder as several, the summary came out longer and compaction abandoned its runs.
  it('merges daily notes into long-term entries with provenance, every summary accepted', async () => {
    const memory = await AgentMemory.openOnBus({ bus, inference });
    try {
      const sources = [];
      for (let index = 0; index < 6; index += 1) {
        sources.push(
          await memory.writeNote({
            text: `Compaction check ${index}: the nightly backup of volume ${index} finished at 03:1${index} without errors`,
            tier: 'daily',
            tags: ['backup'],
          }),
        );
      }
      const compactor = new MemoryCompactor({
        memory,
        summarizer: new InferenceSummarizer({ inference }),
        thresholdEntries: 4,
        groupSize: 3,
      });
      const report = await compactor.run();
      // The earlier test's daily entries (same agent) may be compacted too: at least these six's two runs.
      expect(report.abandoned).toEqual([]);
      expect(report.completed.length).toBeGreaterThanOrEqual(2);
      const store = memory.store;
      expect(store.compactions().map((run) => run.state)).toEqual(report.completed.map(() => 'done'));
      const long = report.written.map((id) => store.entry(id)!);
      expect(long.map((entry) => entry.tier)).toEqual(report.completed.map(() => 'long'));
      for (const entry of long) {
        expect(entry.text.length).toBeGreaterThan(0);
        expect(entry.text.length).toBeLessThanOrEqual(500);
        expect(entry.text).not.toContain('\uFFFD');
      }
      const linked = long.flatMap((entry) => store.links(entry.id).filter((link) => link.kind === 'memory'));
      expect(linked.map((link) => link.targetId)).toEqual(expect.arrayContaining(sources.map((source) => source.id)));
      for (const source of sources) expect(store.entry(source.id)).toMatchObject({ archived: true });
    } finally {
      await memory.dispose();
    }
  });
});
