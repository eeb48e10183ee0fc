import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IpcClient, IpcServer } from '@clawfleet/ipc';
import {
  BUS_METHODS,
  BUS_ROWS_TOPIC,
  type BusRowsEvent,
  type BusSubscribeResult,
  isClawError,
} from '@clawfleet/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EmbeddedDatabase, identityForName } from '../host/index.ts';
import { BusService } from './bus-service.ts';

const TOKEN = 'service-test-token';

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('Expected a rejection');
}

async function until(predicate: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 3_000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const task = (title: string) => ({
  title,
  description: '',
  priority: 1,
  depends_on: [],
  stimulus_id: null,
  reserved_for: null,
});

describe('BusService', () => {
  let directory: string;
  let database: EmbeddedDatabase;
  let server: IpcServer;
  let service: BusService;
  const clients: IpcClient[] = [];

  const connect = async (agent: string): Promise<IpcClient> => {
    const client = await IpcClient.connect({
      socketPath: join(directory, 'bus.sock'),
      agent,
      token: TOKEN,
      reconnect: false,
    });
    clients.push(client);
    return client;
  };
  const call = (client: IpcClient, reducer: string, args: Record<string, unknown>) =>
    client.request(BUS_METHODS.call, { reducer, args });

  beforeEach(async () => {
    directory = mkdtempSync(join(tmpdir(), 'claw-bus-service-'));
    database = EmbeddedDatabase.open({ path: ':memory:' });
    server = new IpcServer({
      socketPath: join(directory, 'bus.sock'),
      authenticate: (_agent, token) => token === TOKEN,
    });
    service = new BusService({ database, server, identityForName, maxSubscriptionsPerConnection: 3 });
    await server.listen();
    const admin = await connect('orchestrator');
    for (const name of ['Alice', 'Bob']) {
      await call(admin, 'register_agent', { name, identity: identityForName(name), role: 'test' });
    }
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
    await server.close({ timeoutMs: 1_000 });
    service.dispose();
    database.close();
    rmSync(directory, { recursive: true, force: true });
  });

  it('runs every reducer as the authenticated name and refuses a caller field in the params', async () => {
    const alice = await connect('Alice');
    await call(alice, 'create_task', task('by alice'));
    const [row] = database.query('orchestrator', 'task', { title: 'by alice' });
    expect(row?.created_by).toBe(identityForName('Alice'));

    const error = await rejection(
      alice.request(BUS_METHODS.call, { reducer: 'register_agent', args: {}, caller: 'orchestrator' }),
    );
    expect(isClawError(error, 'INVALID_PARAMS')).toBe(true);
    const forbidden = await rejection(
      call(alice, 'register_agent', { name: 'Mallory', identity: identityForName('M'), role: 'x' }),
    );
    expect(isClawError(forbidden, 'REDUCER_REJECTED')).toBe(true);
  });

  it('answers bus.identity with the connection name and its identity', async () => {
    const bob = await connect('Bob');
    expect(await bob.request(BUS_METHODS.identity, {})).toEqual({ name: 'Bob', identity: identityForName('Bob') });
  });

  it('refuses bad subscriptions: malformed SQL, unknown tables, a reused id, too many', async () => {
    const alice = await connect('Alice');
    const subscribe = (subscriptionId: number, query: string) =>
      alice.request(BUS_METHODS.subscribe, { subscriptionId, queries: [query] });
    const malformed = await rejection(subscribe(1, 'SELECT * FROM task WHERE priority > 1'));
    expect(isClawError(malformed, 'SUBSCRIPTION_INVALID')).toBe(true);
    const unknown = await rejection(subscribe(1, 'SELECT * FROM nothing'));
    expect(isClawError(unknown, 'SUBSCRIPTION_INVALID')).toBe(true);
    expect((unknown as Error).message).toContain('nothing');
    await subscribe(1, 'SELECT * FROM task');
    const reused = await rejection(subscribe(1, 'SELECT * FROM agent'));
    expect(isClawError(reused, 'INVALID_PARAMS')).toBe(true);
    await subscribe(2, 'SELECT * FROM task');
    await subscribe(3, 'SELECT * FROM task');
    const tooMany = await rejection(subscribe(4, 'SELECT * FROM task'));
    expect(isClawError(tooMany, 'TOO_MANY_REQUESTS')).toBe(true);
  });

  it('pushes only rows the subscriber may see and its query selects, and stops after unsubscribe', async () => {
    const alice = await connect('Alice');
    const bob = await connect('Bob');
    const events: { agent: string; subscriptionId: number | undefined; event: BusRowsEvent }[] = [];
    for (const [agent, client] of [
      ['Alice', alice],
      ['Bob', bob],
    ] as const) {
      client.onEvent(BUS_ROWS_TOPIC, (data, subscriptionId) =>
        events.push({ agent, subscriptionId, event: data as BusRowsEvent }),
      );
    }
    const initial = (await bob.request(BUS_METHODS.subscribe, {
      subscriptionId: 7,
      queries: ['SELECT * FROM visible_memory', "SELECT * FROM task WHERE title = 'wanted'"],
    })) as BusSubscribeResult;
    expect(initial.tables.map((entry) => [entry.table, entry.rows.length])).toEqual([
      ['visible_memory', 0],
      ['task', 0],
    ]);
    await alice.request(BUS_METHODS.subscribe, { subscriptionId: 1, queries: ['SELECT * FROM visible_memory'] });

    const memory = { tier: 'short', importance: 0.1, tags: [], links: [] };
    await call(alice, 'write_memory', { ...memory, scope: 'private', text: 'alice only' });
    await call(alice, 'write_memory', { ...memory, scope: 'shared', text: 'for everyone' });
    await call(alice, 'create_task', task('unwanted'));
    await call(alice, 'create_task', task('wanted'));
    await until(() => events.filter((entry) => entry.agent === 'Bob').length === 2, 'Bob to get two events');
    const bobSaw = events
      .filter((entry) => entry.agent === 'Bob')
      .flatMap((entry) => entry.event.changes.map((change) => String(change.row.text ?? change.row.title)));
    expect(bobSaw).toEqual(['for everyone', 'wanted']);
    expect(events.filter((entry) => entry.agent === 'Bob').every((entry) => entry.subscriptionId === 7)).toBe(true);
    const aliceSaw = events.filter((entry) => entry.agent === 'Alice').flatMap((entry) => entry.event.changes);
    expect(aliceSaw.map((change) => change.row.text)).toEqual(['alice only', 'for everyone']);

    expect(await bob.request(BUS_METHODS.unsubscribe, { subscriptionId: 7 })).toEqual({ removed: true });
    expect(await bob.request(BUS_METHODS.unsubscribe, { subscriptionId: 7 })).toEqual({ removed: false });
    const before = events.length;
    await call(alice, 'write_memory', { ...memory, scope: 'shared', text: 'after unsubscribe' });
    await until(() => events.length === before + 1, "Alice's own event");
    expect(events.at(-1)?.agent).toBe('Alice');
  });

  it('refuses private tables to agents, naming the view to use, as SpacetimeDB does; the admin may read them', async () => {
    const alice = await connect('Alice');
    for (const [table, view] of [
      ['memory_entry', 'visible_memory'],
      ['message', 'visible_message'],
    ] as const) {
      await expect(
        alice.request(BUS_METHODS.subscribe, { subscriptionId: 1, queries: [`SELECT * FROM ${table}`] }),
      ).rejects.toMatchObject({ code: 'SUBSCRIPTION_INVALID', details: { table, view } });
      await expect(alice.request(BUS_METHODS.query, { query: `SELECT * FROM ${table}` })).rejects.toMatchObject({
        code: 'SUBSCRIPTION_INVALID',
      });
    }
    await expect(
      alice.request(BUS_METHODS.subscribe, { subscriptionId: 2, queries: ['SELECT * FROM task_lease_schedule'] }),
    ).rejects.toMatchObject({ code: 'SUBSCRIPTION_INVALID' });
    const orchestrator = await connect('orchestrator');
    await expect(
      orchestrator.request(BUS_METHODS.query, { query: 'SELECT * FROM memory_entry' }),
    ).resolves.toMatchObject({
      table: 'memory_entry',
    });
  });

  it('commits calls sent together as a group: each gets its own outcome, its events come before its reply', async () => {
    const alice = await connect('Alice');
    const bob = await connect('Bob');
    const watcher = await connect('Bob');
    const seen: string[] = [];
    watcher.onEvent(BUS_ROWS_TOPIC, (data) => {
      for (const change of (data as BusRowsEvent).changes) seen.push(String(change.row.title));
    });
    await watcher.request(BUS_METHODS.subscribe, { subscriptionId: 1, queries: ['SELECT * FROM task'] });
    const titles = ['a1', 'b1', '', 'a2', 'b2', 'a3'];
    const outcomes = await Promise.all(
      titles.map((title, index) =>
        call(index % 2 === 0 ? alice : bob, 'create_task', task(title)).then(
          (result) => ({ result, seenAtReply: seen.includes(title) }),
          (error: unknown) => ({ error }),
        ),
      ),
    );
    for (const [index, outcome] of outcomes.entries()) {
      if (titles[index] === '') {
        expect(isClawError((outcome as { error: unknown }).error, 'REDUCER_REJECTED')).toBe(true);
      } else {
        expect(outcome).toEqual({ result: { changeCount: 1 }, seenAtReply: true });
      }
    }
    // Two connections' requests may arrive in either order; the watcher sees the commit (id) order.
    const stored = database.query('orchestrator', 'task').map((row) => row.title);
    expect([...stored].sort()).toEqual(['a1', 'a2', 'a3', 'b1', 'b2']);
    expect(seen).toEqual(stored);
  });

  it('runs the lifecycle reducers per connection, so presence follows open connections', async () => {
    const online = () => database.query('orchestrator', 'agent', { name: 'Alice' })[0]?.online;
    expect(online()).toBe(false);
    const first = await connect('Alice');
    const second = await connect('Alice');
    await until(() => online() === true, 'Alice online');
    await first.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(online()).toBe(true);
    await second.close();
    await until(() => online() === false, 'Alice offline after her last connection');
  });
});
