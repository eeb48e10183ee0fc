import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedBusClient } from '@clawfleet/bus-client';
import { BusService, EmbeddedDatabase, identityForName } from '@clawfleet/embedded-bus';
import { IpcServer } from '@clawfleet/ipc';
import { rejectionOf } from '@clawfleet/protocol/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { describeMemoryStoreContract } from '../testing/memory-store-contract.ts';
import { exportMemories, importMemories, parseMemoryJsonl } from '../transfer/memory-jsonl.ts';
import { BusMemoryStore } from './bus-memory-store.ts';

const TOKEN = 'memory-test-token';

/** An embedded bus hosted in this process (temp socket and SQLite file), with Alice and Bob registered. */
async function hostBus() {
  const directory = mkdtempSync(join(tmpdir(), 'claw-memory-'));
  const socketPath = join(directory, 'bus.sock');
  const database = EmbeddedDatabase.open({ path: join(directory, 'bus.sqlite') });
  const server = new IpcServer({ socketPath, authenticate: (_agent, token) => token === TOKEN });
  const service = new BusService({ database, server, identityForName });
  await server.listen();
  const clients: EmbeddedBusClient[] = [];
  const connect = async (name: string) => {
    const client = await EmbeddedBusClient.connect({ socketPath, name, token: TOKEN });
    clients.push(client);
    return client;
  };
  const admin = await connect('orchestrator');
  for (const name of ['Alice', 'Bob']) {
    await admin.callReducer('register_agent', { name, identity: identityForName(name), role: 'test' });
  }
  return {
    connect,
    async dispose() {
      for (const client of clients) await client.dispose();
      await server.close({ timeoutMs: 1_000 });
      service.dispose();
      database.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

describeMemoryStoreContract('BusMemoryStore on the embedded bus', async () => {
  const bus = await hostBus();
  return {
    open: async (agent) => new BusMemoryStore({ bus: await bus.connect(agent) }),
    dispose: () => bus.dispose(),
  };
});

describe('memory JSONL import and export (admin)', () => {
  let bus: Awaited<ReturnType<typeof hostBus>> | undefined;
  afterEach(async () => {
    await bus?.dispose();
    bus = undefined;
  });

  /** Lines without their file ids, memory sources named by the text they point at. */
  function comparable(jsonl: string) {
    const records = parseMemoryJsonl(jsonl);
    const textOf = new Map(records.map((record) => [record.id, record.text]));
    return records
      .map(({ id: _id, sources, ...rest }) => ({
        ...rest,
        sources: sources.map((source) =>
          source.kind === 'memory' ? `memory:${textOf.get(source.id)}` : `${source.kind}:${source.id}`,
        ),
      }))
      .sort((a, b) => a.text.localeCompare(b.text));
  }

  it("round-trips an agent's memories with their timestamps, tiers, archived state and provenance", async () => {
    bus = await hostBus();
    const admin = await bus.connect('orchestrator');
    const alice = new BusMemoryStore({ bus: await bus.connect('Alice') });
    await alice.ready;
    const first = await alice.write({ tier: 'daily', importance: 0.4, text: 'vpn drops at 2am', tags: ['vpn'] });
    const second = await alice.write({ tier: 'daily', importance: 0.6, text: 'deploy needs the vpn', tags: ['vpn'] });
    await alice.recordReflection({ text: 'check the vpn before deploying', importance: 0.8, tags: ['lesson'] });
    const run = await alice.beginCompaction([first.id, second.id]);
    await alice.completeCompaction(run.id, [
      {
        text: 'staging deploys need the vpn, which drops at 2am',
        importance: 0.6,
        tags: ['vpn'],
        sourceIds: [first.id, second.id],
      },
    ]);
    await alice.dispose();

    const exported = await exportMemories(admin, 'Alice');
    expect(exported.trim().split('\n')).toHaveLength(4);
    const backdated = `${JSON.stringify({ id: 1_000, text: 'lesson from last year', tier: 'long', scope: 'shared', importance: 0.9, tags: ['history'], created_at: '2025-06-01T12:00:00.000Z' })}\n`;
    const report = await importMemories(admin, 'Bob', exported + backdated);
    expect(report.imported).toBe(5);

    const reexported = await exportMemories(admin, 'Bob');
    expect(comparable(reexported)).toEqual(comparable(exported + backdated));
    const bob = new BusMemoryStore({ bus: await bus.connect('Bob') });
    await bob.ready;
    const old = bob.entries().find((entry) => entry.text === 'lesson from last year');
    expect(old?.createdAt).toBe(Date.parse('2025-06-01T12:00:00.000Z'));
    const long = bob
      .entries()
      .find((entry) => entry.tier === 'long' && entry.agent === 'Bob' && entry.text.startsWith('staging'));
    const sourceIds = bob
      .links(long!.id)
      .map((link) => link.targetId)
      .sort();
    expect(sourceIds).toEqual([report.ids.get(first.id), report.ids.get(second.id)].sort());
    expect(sourceIds.map((id) => bob.entry(id)?.archived)).toEqual([true, true]);
    await bob.dispose();
  });

  it('checks the whole file first: a bad line is refused with its number and nothing is written', async () => {
    bus = await hostBus();
    const admin = await bus.connect('orchestrator');
    const good = JSON.stringify({ id: 1, text: 'fine', tier: 'daily', importance: 0.5, created_at: 0 });
    const cases: [string, string][] = [
      [`${good}\n{not json`, 'Line 2: not valid JSON'],
      [`${good}\n${JSON.stringify({ id: 2, text: 'x', tier: 'weekly', importance: 0.5, created_at: 0 })}`, 'Line 2:'],
      [
        `${JSON.stringify({ id: 2, text: 'x', tier: 'long', importance: 0.5, created_at: 0, sources: [{ kind: 'memory', id: 7 }] })}`,
        'Line 1: source memory 7 is not in the file',
      ],
      [`${good}\n${good}`, 'Line 2: id 1 is used by line 1 too'],
      [`${good.replace('"created_at":0', '"created_at":"yesterday"')}`, 'Line 1:'],
      [`${good.replace('"id":1', '"id":1,"agent":"Mallory"')}`, 'Line 1:'],
    ];
    for (const [file, message] of cases) {
      const error = await rejectionOf(importMemories(admin, 'Bob', file));
      expect(error.code, file).toBe('IMPORT_INVALID');
      expect(error.message).toContain(message);
    }
    expect(await exportMemories(admin, 'Bob')).toBe('');
  });

  it('lets no agent backdate a memory or import one', async () => {
    bus = await hostBus();
    const alice = await bus.connect('Alice');
    const write = { tier: 'daily', scope: 'private', importance: 0.5, text: 'backdated', tags: [], links: [] };
    // @ts-expect-error: `created_at` is no argument of write_memory; the host refuses it at run time too
    expect(await rejectionOf(alice.callReducer('write_memory', { ...write, created_at: 0 }))).toMatchObject({
      code: 'INVALID_PARAMS',
    });
    expect(
      await rejectionOf(
        importMemories(
          alice,
          'Alice',
          JSON.stringify({ id: 1, text: 'old', tier: 'long', importance: 0.5, created_at: 0 }),
        ),
      ),
    ).toMatchObject({
      code: 'SUBSCRIPTION_INVALID',
    });
    expect(
      await rejectionOf(
        alice.callReducer('import_memory', { ...write, agent: 'Alice', archived: false, created_at: 0 }),
      ),
    ).toMatchObject({
      code: 'REDUCER_REJECTED',
      message: expect.stringContaining('Only an admin may import memories'),
    });
  });
});
