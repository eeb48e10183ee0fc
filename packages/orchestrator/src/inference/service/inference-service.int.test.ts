import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InferenceClient } from '@clawfleet/inference-client';
import { IpcClient, IpcServer, tokenAuthenticator } from '@clawfleet/ipc';
import { tempSocketPath } from '@clawfleet/ipc/testing';
import type { InferenceAccountingRecord } from '@clawfleet/protocol';
import { ensureTinyModel } from '@clawfleet/tiny-model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlotPool } from '../slot-pool/slot-pool.ts';
import { WorkerBackend } from '../worker/worker-backend.ts';
import { InferenceService } from './inference-service.ts';

// The real path once: IPC client -> InferenceService -> SlotPool -> WorkerBackend (llama.cpp in a
// child process) -> a generated GGUF model.
describe('inference over IPC with the llama.cpp worker', () => {
  const socket = tempSocketPath();
  const records: InferenceAccountingRecord[] = [];
  let backend: WorkerBackend;
  let pool: SlotPool;
  let server: IpcServer;
  let ipc: IpcClient;
  let inference: InferenceClient;

  beforeAll(async () => {
    const path = await ensureTinyModel(join(tmpdir(), 'clawfleet-test-models'));
    backend = await WorkerBackend.start({ gpu: false, maxThreads: 2, contextThreads: 1 });
    pool = await SlotPool.create({
      backend,
      models: [{ id: 'tiny', path, contextSize: 512, slots: 2, gpuLayers: 0 }],
    });
    const service = new InferenceService({
      pool,
      settings: { agents: { LeadClaw: { modelId: 'tiny', sampling: { maxTokens: 48 } } } },
      onAccounting: (record) => records.push(record),
    });
    server = new IpcServer({ socketPath: socket.socketPath, authenticate: tokenAuthenticator({ LeadClaw: 'token' }) });
    service.register(server);
    await server.listen();
    ipc = await IpcClient.connect({ socketPath: socket.socketPath, agent: 'LeadClaw', token: 'token' });
    inference = new InferenceClient(ipc);
  });

  afterAll(async () => {
    await ipc?.close();
    await server?.close({ timeoutMs: 2000 });
    await pool?.dispose();
    await backend?.dispose();
    socket.cleanup();
  });

  it('streams a generation, reuses the prefix, returns structured output and embeddings, and accounts', async () => {
    const prefix = 'You are LeadClaw, the coordinator of five agents. Today the build failed twice. ';
    const deltas: string[] = [];
    const first = await inference.generate('What should we do first?', {
      prefix,
      priority: 'triage',
      onDelta: (text) => deltas.push(text),
    });
    expect(first.tokensOut).toBeGreaterThan(0);
    expect(first.tokensOut).toBeLessThanOrEqual(48);
    expect(deltas.join('')).toBe(first.text);
    const second = await inference.generate('And after that?', { prefix, priority: 'act' });
    expect(second.tokensReused).toBeGreaterThan(0);

    const decision = await inference.structured<{ decision: string }>(
      'Decide about the failing build.',
      { type: 'object', properties: { decision: { enum: ['act', 'defer'] } }, required: ['decision'] },
      { priority: 'triage' },
    );
    expect(['act', 'defer']).toContain(decision.value.decision);

    const embedded = await inference.embed(['the build failed', 'the build failed']);
    expect(embedded.vectors).toHaveLength(2);
    expect(embedded.vectors[1]).toEqual(embedded.vectors[0]);

    const usage = await inference.usage();
    expect(usage.totals.requests).toBe(4);
    expect(usage.totals.tokensOut).toBe(first.tokensOut + second.tokensOut + decision.tokensOut);
    expect(records.map((record) => record.method)).toEqual(['generate', 'generate', 'structured', 'embed']);
    expect(records.map((record) => record.outcome)).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(records[1]?.tokensReused).toBe(second.tokensReused);
    // Embedding tokens are counted by the real tokenizer.
    expect(records[3]?.tokensIn).toBeGreaterThan(0);
  });
});
