import { InferenceClient } from '@clawfleet/inference-client';
import { IpcClient, IpcServer, tokenAuthenticator } from '@clawfleet/ipc';
import { tempSocketPath } from '@clawfleet/ipc/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeInferenceBackend } from '../../testing/fake-inference-backend.ts';
import { SlotPool } from '../slot-pool/slot-pool.ts';
import { InferenceService } from './inference-service.ts';

const tokens = { OpsClaw: 'ops-token', DevClaw: 'dev-token' };
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start() {
  const backend = new FakeInferenceBackend({ checkPaths: false, millisecondsPerToken: 20, outputTokens: 1_000 });
  const pool = await SlotPool.create({
    backend,
    models: [{ id: 'main', path: '/models/main.gguf', contextSize: 1024, slots: 1, gpuLayers: 0 }],
  });
  const service = new InferenceService({
    pool,
    settings: {
      agents: {
        DevClaw: { modelId: 'main', sampling: { maxTokens: 500 } },
        OpsClaw: { modelId: 'main', sampling: { maxTokens: 500 } },
      },
    },
  });
  const socket = tempSocketPath();
  const server = new IpcServer({ socketPath: socket.socketPath, authenticate: tokenAuthenticator(tokens) });
  service.register(server);
  await server.listen();
  cleanups.push(
    socket.cleanup,
    () => backend.dispose(),
    () => pool.dispose(),
    () => server.close({ timeoutMs: 1000 }),
  );
  const client = async (agent: keyof typeof tokens) => {
    const ipc = await IpcClient.connect({
      socketPath: socket.socketPath,
      agent,
      token: tokens[agent],
      reconnect: false,
    });
    cleanups.push(() => ipc.close());
    return new InferenceClient(ipc);
  };
  return { client };
}

describe('inference.status', () => {
  it("shows any agent the pool's running and queued requests and its models, naming no agent", async () => {
    const { client } = await start();
    const ops = await client('OpsClaw');
    const dev = await client('DevClaw');
    const idle = await ops.status();
    expect(idle).toMatchObject({
      queued: 0,
      running: 0,
      embeddings: { queued: 0, running: 0, maxConcurrent: 1 },
      models: [{ id: 'main', slots: 1, busySlots: 0, busyEmbeddings: 0 }],
    });

    const controller = new AbortController();
    const first = dev.generate('one', { signal: controller.signal }).catch(() => undefined);
    const second = dev.generate('two', { signal: controller.signal }).catch(() => undefined);
    let busy = await ops.status();
    for (let attempt = 0; attempt < 200 && (busy.running < 1 || busy.queued < 1); attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      busy = await ops.status();
    }
    expect(busy).toMatchObject({ running: 1, queued: 1, models: [{ id: 'main', busySlots: 1 }] });
    expect(JSON.stringify(busy)).not.toContain('DevClaw');
    controller.abort();
    await Promise.all([first, second]);
  });
});
