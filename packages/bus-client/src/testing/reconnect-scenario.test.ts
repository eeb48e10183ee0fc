/**
 * One host restart, two hosts: the embedded bus over IPC and the SpacetimeDB test double. The same
 * scenario runs against both clients and must report the same events in the same order, so an agent
 * cannot tell from its callbacks which host it is on.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BusService, EmbeddedDatabase, identityForName } from '@clawfleet/embedded-bus';
import { IpcServer } from '@clawfleet/ipc';
import { afterEach, describe, expect, it } from 'vitest';
import type { BusClient, BusRow } from '../bus-client.ts';
import { EmbeddedBusClient } from '../embedded/embedded-bus-client.ts';
import { SpacetimeDbBusClient } from '../spacetimedb/spacetimedb-bus-client.ts';
import { SpacetimeDbTestServer } from './spacetimedb-test-server.ts';

interface RestartableHost {
  /** The SQLite file behind the host, changed directly while the host is down. */
  readonly databasePath: string;
  /** A client registered as an agent by the host's admin. */
  agent(name: string): Promise<BusClient>;
  kill(): Promise<void>;
  restart(): Promise<void>;
  dispose(): Promise<void>;
}

const TOKEN = 'reconnect-scenario-token';

async function embeddedHost(): Promise<RestartableHost> {
  const directory = mkdtempSync(join(tmpdir(), 'claw-reconnect-'));
  const socketPath = join(directory, 'bus.sock');
  const databasePath = join(directory, 'bus.sqlite');
  let running: { database: EmbeddedDatabase; server: IpcServer; service: BusService } | undefined;
  const start = async () => {
    const database = EmbeddedDatabase.open({ path: databasePath });
    const server = new IpcServer({ socketPath, authenticate: (_agent, token) => token === TOKEN });
    const service = new BusService({ database, server, identityForName });
    await server.listen();
    running = { database, server, service };
  };
  const stop = async () => {
    if (!running) return;
    const { database, server, service } = running;
    running = undefined;
    await server.close({ timeoutMs: 0 });
    service.dispose();
    database.close();
  };
  await start();
  const clients: BusClient[] = [];
  const connect = async (name: string) => {
    const client = await EmbeddedBusClient.connect({ socketPath, name, token: TOKEN });
    clients.push(client);
    return client;
  };
  const admin = await connect('orchestrator');
  return {
    databasePath,
    agent: async (name) => {
      const client = await connect(name);
      await admin.callReducer('register_agent', { name, identity: client.identity, role: 'worker' });
      return client;
    },
    kill: stop,
    restart: start,
    dispose: async () => {
      for (const client of clients) await client.dispose();
      await stop();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

async function spacetimeDbHost(): Promise<RestartableHost> {
  const server = await SpacetimeDbTestServer.start();
  const clients: BusClient[] = [];
  const connect = async (name: string, token?: string) => {
    const client = await SpacetimeDbBusClient.connect({
      uri: server.url,
      databaseName: server.databaseName,
      name,
      ...(token ? { token } : {}),
    });
    clients.push(client);
    return client;
  };
  const admin = await connect('orchestrator', server.tokenFor('orchestrator'));
  return {
    databasePath: server.databasePath,
    agent: async (name) => {
      const client = await connect(name);
      await admin.callReducer('register_agent', { name, identity: client.identity, role: 'worker' });
      return client;
    },
    kill: () => server.kill(),
    restart: () => server.restart(),
    dispose: async () => {
      for (const client of clients) await client.dispose();
      await server.dispose();
    },
  };
}

const newTask = (title: string) => ({
  title,
  description: '',
  priority: 5,
  depends_on: [],
  stimulus_id: null,
  reserved_for: null,
});

async function eventually(predicate: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** What the subscriber saw, from subscribing to working again after a restart. */
async function restartScenario(host: RestartableHost): Promise<{ before: string[]; after: string[]; cache: string[] }> {
  const client = await host.agent('Watcher');
  const identity = client.identity;
  await client.callReducer('create_task', newTask('stays'));
  await client.callReducer('create_task', newTask('leaves'));
  await client.callReducer('create_task', newTask('changes'));
  const events: string[] = [];
  const subscription = client.subscribe("SELECT * FROM task WHERE state = 'queued'", {
    onInsert: (row) => events.push(`insert ${String(row.title)} a${String(row.attempts)}`),
    onUpdate: (_old, row) => events.push(`update ${String(row.title)}`),
    onDelete: (row) => events.push(`delete ${String(row.title)} a${String(row.attempts)}`),
    onApplied: () => events.push('applied'),
  });
  await subscription.ready;
  const before = [...events];
  events.length = 0;
  const idOf = (title: string) => (client.rows('task').find((row) => row.title === title) as BusRow).id as number;
  const leaving = idOf('leaves');
  const changing = idOf('changes');

  await host.kill();
  // While the client is away: a task leaves the query, one changes inside it, one is created.
  const database = EmbeddedDatabase.open({ path: host.databasePath });
  database.callReducer('orchestrator', 'register_agent', {
    name: 'Other',
    identity: identityForName('Other'),
    role: 'worker',
  });
  database.callReducer('Other', 'claim_task', { task_id: leaving, lease_seconds: 60 });
  database.callReducer('Other', 'claim_task', { task_id: changing, lease_seconds: 60 });
  database.callReducer('Other', 'release_task', { task_id: changing });
  database.callReducer('Other', 'create_task', newTask('arrived'));
  database.close();
  await host.restart();

  await eventually(() => events.includes('applied'), 'the subscription to be applied again');
  expect(subscription.active).toBe(true);
  expect(client.identity).toBe(identity);
  await client.callReducer('create_task', newTask('after'));
  const cache = client
    .rows('task')
    .map((row) => `${String(row.title)} a${String(row.attempts)}`)
    .sort();
  await subscription.dispose();
  return { before, after: events, cache };
}

describe('a host restart looks the same on both clients', () => {
  const hosts: RestartableHost[] = [];
  afterEach(async () => {
    for (const host of hosts.splice(0)) await host.dispose();
  });

  it('reports the same events, in the same order, and ends with the same cache', async () => {
    const embedded = await embeddedHost();
    hosts.push(embedded);
    const spacetime = await spacetimeDbHost();
    hosts.push(spacetime);
    const onEmbedded = await restartScenario(embedded);
    const onSpacetime = await restartScenario(spacetime);
    // The snapshot is reconciled by primary key: a row that changed while away is an update.
    expect(onEmbedded.after).toEqual([
      'delete leaves a0',
      'update changes',
      'insert arrived a0',
      'applied',
      'insert after a0',
    ]);
    expect(onSpacetime).toEqual(onEmbedded);
  });
});

/** What a subscriber to a view sees when its own memory entry is written, changed and deleted. */
async function viewScenario(host: RestartableHost): Promise<string[]> {
  const client = await host.agent('Rememberer');
  const events: string[] = [];
  const subscription = client.subscribe('SELECT * FROM visible_memory', {
    onInsert: (row) => events.push(`insert ${String(row.text)}`),
    onUpdate: (oldRow, row) => events.push(`update ${String(oldRow.text)} -> ${String(row.text)}`),
    onDelete: (row) => events.push(`delete ${String(row.text)}`),
  });
  await subscription.ready;
  await client.callReducer('write_memory', {
    tier: 'short',
    scope: 'private',
    importance: 0.5,
    text: 'first',
    tags: [],
    links: [],
  });
  const id = client.rows('visible_memory').find((row) => row.text === 'first')?.id as number;
  await client.callReducer('update_memory', {
    memory_id: id,
    tier: 'short',
    importance: 0.5,
    text: 'second',
    tags: [],
  });
  await client.callReducer('delete_memory', { memory_id: id });
  await subscription.dispose();
  return events;
}

describe('a view row changing looks the same on both clients', () => {
  const hosts: RestartableHost[] = [];
  afterEach(async () => {
    for (const host of hosts.splice(0)) await host.dispose();
  });

  it('reports insert, update and delete of a visible_memory row alike', async () => {
    const embedded = await embeddedHost();
    hosts.push(embedded);
    const spacetime = await spacetimeDbHost();
    hosts.push(spacetime);
    const onEmbedded = await viewScenario(embedded);
    expect(onEmbedded).toEqual(['insert first', 'update first -> second', 'delete second']);
    expect(await viewScenario(spacetime)).toEqual(onEmbedded);
  });
});
