import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BusService, EmbeddedDatabase, identityForName } from '@clawfleet/embedded-bus';
import { IpcServer } from '@clawfleet/ipc';
import {
  INFERENCE_METHODS,
  type InferenceEmbedResult,
  inferenceEmbedParamsSchema,
  isClawError,
} from '@clawfleet/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { connectAgent } from './connect-agent.ts';

const TOKEN = 'agent-token';

/** The embedded bus and a stand-in `inference.embed` handler on one in-process IPC server. */
async function hostOrchestrator() {
  const directory = mkdtempSync(join(tmpdir(), 'claw-agent-connection-'));
  const socketPath = join(directory, 'orchestrator.sock');
  const database = EmbeddedDatabase.open({ path: ':memory:' });
  const server = new IpcServer({ socketPath, authenticate: (_agent, token) => token === TOKEN });
  const service = new BusService({ database, server, identityForName });
  /** Which identity sent each inference request, as the server saw it. */
  const inferenceCallers: string[] = [];
  server.handle(INFERENCE_METHODS.embed, {
    params: inferenceEmbedParamsSchema,
    handler: (params, context): InferenceEmbedResult => {
      inferenceCallers.push(context.identity);
      return {
        requestId: `stand-in-${inferenceCallers.length}`,
        modelId: 'stand-in',
        modelSha256: 'a'.repeat(64),
        vectors: params.texts.map(() => [1, 0]),
        queuedMs: 0,
        generateMs: 0,
      };
    },
  });
  await server.listen();
  database.callReducer('orchestrator', 'register_agent', {
    name: 'OpsClaw',
    identity: identityForName('OpsClaw'),
    role: 'ops',
  });
  return {
    socketPath,
    server,
    inferenceCallers,
    async dispose() {
      await server.close({ timeoutMs: 1_000 });
      service.dispose();
      database.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

async function until(predicate: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('connectAgent', () => {
  let host: Awaited<ReturnType<typeof hostOrchestrator>> | undefined;
  afterEach(async () => {
    await host?.dispose();
    host = undefined;
  });

  it('serves the bus and inference over one authenticated connection, closed by one dispose', async () => {
    host = await hostOrchestrator();
    const agent = await connectAgent({ socketPath: host.socketPath, name: 'OpsClaw', token: TOKEN });
    expect(agent.name).toBe('OpsClaw');
    expect(agent.identity).toBe(identityForName('OpsClaw'));
    expect(host.server.connections(agent.name)).toHaveLength(1);

    const tasks = agent.bus.subscribe('SELECT * FROM task');
    await tasks.ready;
    await agent.bus.reducers.createTask({ title: 'one socket', description: '', priority: 3, depends_on: [] });
    expect(agent.bus.cache.task.map((row) => row.created_by)).toEqual([agent.identity]);
    const embedded = await agent.inference.embed(['hello']);
    expect(embedded.vectors).toEqual([[1, 0]]);
    expect(host.inferenceCallers).toEqual(['OpsClaw']);
    expect(host.server.connections(agent.name)).toHaveLength(1);

    await agent.dispose();
    await until(() => host!.server.connections(agent.name).length === 0, 'the server to see the agent leave');
    expect(tasks.active).toBe(false);
    await expect(agent.bus.reducers.agentHeartbeat({ status: 'idle' })).rejects.toSatisfy((error) =>
      isClawError(error, 'CONNECTION_CLOSED'),
    );
    await expect(agent.inference.embed(['after'])).rejects.toSatisfy((error) => isClawError(error));
    await agent.dispose();
  });

  it('refuses a wrong token and leaves no connection open', async () => {
    host = await hostOrchestrator();
    const error = await connectAgent({
      socketPath: host.socketPath,
      name: 'OpsClaw',
      token: 'wrong',
      connectTimeoutMs: 1_000,
    }).catch((cause: unknown) => cause);
    expect(isClawError(error)).toBe(true);
    expect(host.server.connections('OpsClaw')).toHaveLength(0);
  });

  it('refuses an aborted signal with CANCELLED before connecting', async () => {
    host = await hostOrchestrator();
    const error = await connectAgent({
      socketPath: host.socketPath,
      name: 'OpsClaw',
      token: TOKEN,
      signal: AbortSignal.abort(),
    }).catch((cause: unknown) => cause);
    expect(isClawError(error, 'CANCELLED')).toBe(true);
    expect(host.server.connections('OpsClaw')).toHaveLength(0);
  });
});
