import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BusService, EmbeddedDatabase, identityForName } from '@clawfleet/embedded-bus';
import { IpcServer } from '@clawfleet/ipc';
import { isClawError } from '@clawfleet/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { describeBusClientContract } from '../testing/bus-client-contract.ts';
import { EmbeddedBusClient } from './embedded-bus-client.ts';

const TOKEN = 'contract-token';

/** An embedded bus hosted in this process on a temp socket, with a SQLite file in a temp dir. */
async function hostBus() {
  const directory = mkdtempSync(join(tmpdir(), 'claw-bus-'));
  const socketPath = join(directory, 'bus.sock');
  const database = EmbeddedDatabase.open({ path: join(directory, 'bus.sqlite') });
  const server = new IpcServer({ socketPath, authenticate: (_agent, token) => token === TOKEN });
  const service = new BusService({ database, server, identityForName });
  await server.listen();
  const connect = (name: string) => EmbeddedBusClient.connect({ socketPath, name, token: TOKEN });
  return {
    socketPath,
    database,
    server,
    service,
    connect,
    async dispose() {
      await server.close({ timeoutMs: 1_000 });
      service.dispose();
      database.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

describeBusClientContract('embedded bus over IPC', {
  createHarness: async () => {
    const bus = await hostBus();
    return {
      connectAdmin: () => bus.connect('orchestrator'),
      connect: (name) => bus.connect(name),
      dispose: () => bus.dispose(),
    };
  },
});

describe('EmbeddedBusClient', () => {
  let bus: Awaited<ReturnType<typeof hostBus>> | undefined;
  afterEach(async () => {
    await bus?.dispose();
    bus = undefined;
  });

  it('acts as the authenticated name: the identity is derived from it, never from a parameter', async () => {
    bus = await hostBus();
    const client = await bus.connect('LeadClaw');
    expect(client.name).toBe('LeadClaw');
    expect(client.identity).toBe(identityForName('LeadClaw'));
    await client.dispose();
  });

  it('drops the subscriptions of a connection that closes', async () => {
    bus = await hostBus();
    const client = await bus.connect('orchestrator');
    await client.subscribe('SELECT * FROM task').ready;
    await client.subscribe('SELECT * FROM agent').ready;
    expect(bus.service.subscriptionCount).toBe(2);
    await client.dispose();
    const deadline = Date.now() + 2_000;
    while (bus.service.subscriptionCount > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(bus.service.subscriptionCount).toBe(0);
  });

  it('does not show an agent the private memory of another agent', async () => {
    bus = await hostBus();
    const admin = await bus.connect('orchestrator');
    const alice = await bus.connect('Alice');
    const bob = await bus.connect('Bob');
    for (const client of [alice, bob]) {
      await admin.reducers.registerAgent({ name: client.name, identity: client.identity, role: 'test' });
    }
    // As on SpacetimeDB, the private table itself is refused; its view shows each agent its own rows.
    const refused = bob.subscribe('SELECT * FROM memory_entry');
    await expect(refused.ready).rejects.toMatchObject({ code: 'SUBSCRIPTION_INVALID' });
    const bobSees = bob.subscribe('SELECT * FROM visible_memory');
    const aliceSees = alice.subscribe('SELECT * FROM visible_memory');
    await Promise.all([bobSees.ready, aliceSees.ready]);
    await alice.reducers.writeMemory({
      tier: 'short',
      scope: 'private',
      importance: 0.3,
      text: 'alice secret',
      tags: [],
      links: [],
    });
    expect(alice.rows('visible_memory').map((row) => row.text)).toContain('alice secret');
    expect(bob.rows('visible_memory').map((row) => row.text)).not.toContain('alice secret');
    await Promise.all([admin.dispose(), alice.dispose(), bob.dispose()]);
  });

  it('re-subscribes after the host restarts and reconciles the cache, firing onDelete for vanished rows', async () => {
    bus = await hostBus();
    const { socketPath } = bus;
    const admin = await bus.connect('orchestrator');
    const deleted: string[] = [];
    let applied = 0;
    const subscription = admin.subscribe('SELECT * FROM task', {
      onDelete: (row) => deleted.push(String(row.title)),
      onApplied: () => {
        applied += 1;
      },
    });
    await subscription.ready;
    await admin.reducers.createTask({
      title: 'survives',
      description: '',
      priority: 1,
      depends_on: [],
      stimulus_id: null,
      reserved_for: null,
    });
    expect(admin.rows('task')).toHaveLength(1);

    // Restart on a fresh, empty database: the task vanished while we were away.
    await bus.server.close({ timeoutMs: 1_000 });
    bus.service.dispose();
    bus.database.close();
    const database = EmbeddedDatabase.open({ path: ':memory:' });
    const server = new IpcServer({ socketPath, authenticate: (_agent, token) => token === TOKEN });
    const service = new BusService({ database, server, identityForName });
    await server.listen();
    try {
      const deadline = Date.now() + 10_000;
      while (applied < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(applied).toBe(2);
      expect(deleted).toEqual(['survives']);
      expect(admin.rows('task')).toEqual([]);
      await admin.reducers.createTask({
        title: 'after restart',
        description: '',
        priority: 1,
        depends_on: [],
        stimulus_id: null,
        reserved_for: null,
      });
      expect(admin.rows('task').map((row) => row.title)).toEqual(['after restart']);
    } finally {
      await admin.dispose();
      await server.close({ timeoutMs: 1_000 });
      service.dispose();
      database.close();
    }
  });

  it('refuses reducer calls after dispose with CONNECTION_CLOSED', async () => {
    bus = await hostBus();
    const client = await bus.connect('orchestrator');
    await client.dispose();
    await expect(client.reducers.agentHeartbeat({ status: 'x' })).rejects.toSatisfy((error) =>
      isClawError(error, 'CONNECTION_CLOSED'),
    );
  });
});
