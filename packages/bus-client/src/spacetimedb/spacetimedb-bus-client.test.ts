/**
 * SpacetimeDbBusClient against the SpacetimeDB TEST DOUBLE (src/testing/spacetimedb-test-server.ts):
 * the SDK's real WebSocket client and message codecs over real sockets, with the embedded host behind
 * the double. Where the double guesses at server behaviour it says so (open-questions.md Q-050); what
 * only a real server can confirm runs in spacetimedb-bus-client.int.test.ts when SPACETIMEDB_URL is set.
 */
import { EmbeddedDatabase, identityForName } from '@clawfleet/embedded-bus';
import { type ClawError, isClawError } from '@clawfleet/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import type { BusRow } from '../bus-client.ts';
import { describeBusClientContract } from '../testing/bus-client-contract.ts';
import { SpacetimeDbTestServer } from '../testing/spacetimedb-test-server.ts';
import { SpacetimeDbBusClient } from './spacetimedb-bus-client.ts';

describeBusClientContract('SpacetimeDB client over the test double', {
  createHarness: async () => {
    const server = await SpacetimeDbTestServer.start();
    const options = { uri: server.url, databaseName: server.databaseName };
    return {
      connectAdmin: () =>
        SpacetimeDbBusClient.connect({ ...options, name: 'orchestrator', token: server.tokenFor('orchestrator') }),
      connect: (name) => SpacetimeDbBusClient.connect({ ...options, name }),
      dispose: () => server.dispose(),
    };
  },
});

async function rejection(promise: Promise<unknown>): Promise<ClawError> {
  try {
    await promise;
  } catch (error) {
    return error as ClawError;
  }
  throw new Error('Expected a rejection');
}

async function eventually(predicate: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const newTask = (title: string) => ({
  title,
  description: '',
  priority: 5,
  depends_on: [],
  stimulus_id: null,
  reserved_for: null,
});

describe('SpacetimeDbBusClient against the test double', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  async function serve(path?: string) {
    const server = await SpacetimeDbTestServer.start(path ? { path } : {});
    cleanup.push(() => server.dispose());
    const connect = async (name: string, token?: string) => {
      const client = await SpacetimeDbBusClient.connect({
        uri: server.url,
        databaseName: server.databaseName,
        name,
        ...(token ? { token } : {}),
      });
      cleanup.push(() => client.dispose());
      return client;
    };
    const admin = await connect('orchestrator', server.tokenFor('orchestrator'));
    const agent = async (name: string) => {
      const client = await connect(name);
      await admin.callReducer('register_agent', { name, identity: client.identity, role: 'worker' });
      return client;
    };
    return { server, admin, agent, connect };
  }

  it('says at once that a refused connection was refused, not after the connect timeout', async () => {
    const { server } = await serve();
    const url = server.url;
    await server.kill();
    // The timeout is far above the test's own, so only an immediate refusal can pass.
    const error = await rejection(
      SpacetimeDbBusClient.connect({ uri: url, databaseName: 'clawfleet', name: 'Late', connectTimeoutMs: 600_000 }),
    );
    expect(isClawError(error, 'CONNECT_FAILED')).toBe(true);
    expect(error.message).toContain('refused the connection');
  });

  it('refuses an unknown database and a bad option with a typed error', async () => {
    const { server } = await serve();
    const error = await rejection(
      SpacetimeDbBusClient.connect({ uri: server.url, databaseName: 'nope', name: 'X', connectTimeoutMs: 5_000 }),
    );
    expect(isClawError(error, 'CONNECT_FAILED')).toBe(true);
    const bad = await rejection(SpacetimeDbBusClient.connect({ uri: '', databaseName: 'clawfleet', name: 'X' }));
    expect(isClawError(bad, 'CONFIG_INVALID')).toBe(true);
  });

  it('refuses an optional-column filter as the embedded host does, naming the column', async () => {
    const { agent } = await serve();
    const client = await agent('Filter');
    const errors: ClawError[] = [];
    const subscription = client.subscribe("SELECT * FROM task WHERE owner = 'Filter'", {
      onError: (error) => errors.push(error),
    });
    const error = await rejection(subscription.ready);
    expect(isClawError(error, 'SUBSCRIPTION_INVALID')).toBe(true);
    expect(error.message).toContain('`task.owner` is optional');
    expect(errors).toEqual([error]);
  });

  it("refuses a private table naming the view to use, in the embedded host's words", async () => {
    const { agent } = await serve();
    const client = await agent('Private');
    const error = await rejection(client.subscribe('SELECT * FROM memory_entry').ready);
    expect(isClawError(error, 'SUBSCRIPTION_INVALID')).toBe(true);
    expect(error.message).toContain(
      'Table `memory_entry` is private; subscribe to `visible_memory`, which shows the rows you may see',
    );
  });

  it('removes its abort listener when a call settles', async () => {
    const { agent } = await serve();
    const client = await agent('Abort');
    const controller = new AbortController();
    let listeners = 0;
    const { signal } = controller;
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = ((...args: Parameters<typeof add>) => {
      listeners += 1;
      add(...args);
    }) as typeof add;
    signal.removeEventListener = ((...args: Parameters<typeof remove>) => {
      listeners -= 1;
      remove(...args);
    }) as typeof remove;
    for (let index = 0; index < 5; index++) {
      await client.callReducer('create_task', newTask(`abort-${index}`), { signal });
    }
    await rejection(client.callReducer('create_task', newTask(''), { signal }));
    expect(listeners).toBe(0);
  });

  it('after the server is killed: fails the call in flight and new calls with CONNECTION_CLOSED, then reconnects as the same identity and reconciles what changed meanwhile', async () => {
    const { server, agent } = await serve();
    const client = await agent('Survivor');
    const identity = client.identity;
    await client.callReducer('create_task', newTask('stays'));
    await client.callReducer('create_task', newTask('leaves'));
    const events: string[] = [];
    const subscription = client.subscribe("SELECT * FROM task WHERE state = 'queued'", {
      onInsert: (row) => events.push(`insert ${String(row.title)}`),
      onUpdate: (_old, row) => events.push(`update ${String(row.title)}`),
      onDelete: (row) => events.push(`delete ${String(row.title)}`),
      onApplied: () => events.push('applied'),
    });
    await subscription.ready;
    expect(events.sort()).toEqual(['applied', 'insert leaves', 'insert stays'].sort());
    events.length = 0;
    const leaving = client.rows('task').find((row) => row.title === 'leaves') as BusRow;

    // A call without a signal, in flight when the server dies, must not hang.
    const inFlight = client.callReducer('create_task', newTask('in-flight'));
    await server.kill();
    const dropped = await rejection(inFlight);
    expect(isClawError(dropped, 'CONNECTION_CLOSED')).toBe(true);
    expect(dropped.retryable).toBe(true);
    await eventually(() => !client.connected, 'the client to notice');
    const refused = await rejection(client.callReducer('create_task', newTask('while-down')));
    expect(isClawError(refused, 'CONNECTION_CLOSED')).toBe(true);
    expect(refused.retryable).toBe(true);
    expect(subscription.active).toBe(false);

    // What changes while the client is away: one task claimed (leaves the query), one created.
    const database = EmbeddedDatabase.open({ path: server.databasePath });
    database.callReducer('orchestrator', 'register_agent', {
      name: 'Other',
      identity: identityForName('Other'),
      role: 'worker',
    });
    database.callReducer('Other', 'claim_task', { task_id: leaving.id as number, lease_seconds: 60 });
    database.callReducer('Other', 'create_task', newTask('arrived'));
    database.close();

    await server.restart();
    await eventually(() => events.includes('applied'), 'the subscription to be applied again');
    // As the embedded client reports it: vanished rows first, then new rows, then onApplied.
    const inFlightCommitted = client.rows('task').some((row) => row.title === 'in-flight');
    expect(events).toEqual([
      'delete leaves',
      ...(inFlightCommitted ? ['insert in-flight'] : []),
      'insert arrived',
      'applied',
    ]);
    expect(subscription.active).toBe(true);
    expect(client.identity).toBe(identity);
    expect(
      client
        .rows('task')
        .map((row) => row.title)
        .sort(),
    ).toEqual(['arrived', 'stays', ...(inFlightCommitted ? ['in-flight'] : [])].sort());

    // And it works as before.
    await client.callReducer('create_task', newTask('after'));
    expect(client.rows('task').some((row) => row.title === 'after')).toBe(true);
  });

  it('without reconnecting, ends its subscriptions with CONNECTION_CLOSED when the server dies', async () => {
    const { server, admin } = await serve();
    const client = await SpacetimeDbBusClient.connect({
      uri: server.url,
      databaseName: server.databaseName,
      name: 'Once',
      reconnect: false,
    });
    cleanup.push(() => client.dispose());
    await admin.callReducer('register_agent', { name: 'Once', identity: client.identity, role: 'worker' });
    const errors: ClawError[] = [];
    const subscription = client.subscribe('SELECT * FROM task', { onError: (error) => errors.push(error) });
    await subscription.ready;
    await server.kill();
    await eventually(() => errors.length === 1, 'the subscription to end');
    expect(isClawError(errors[0], 'CONNECTION_CLOSED')).toBe(true);
    expect(subscription.active).toBe(false);
  });
});
