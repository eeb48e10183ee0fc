import { randomBytes } from 'node:crypto';
import { isClawError } from '@clawfleet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BusClient, BusRowOf, ReducerArgs } from '../bus-client.ts';

/**
 * What a host gives the contract suite. Every test uses fresh names, so the suite can run against a
 * long-lived SpacetimeDB database that already holds rows from earlier runs.
 */
export interface BusClientContractHarness {
  /** A client whose identity administers the database (the orchestrator, or the module owner). */
  connectAdmin(): Promise<BusClient>;
  /** A client for a new identity labelled `name`, not yet registered as an agent. */
  connect(name: string): Promise<BusClient>;
  dispose(): Promise<void>;
}

export interface BusClientContractOptions {
  /** When set, the suite is skipped and this reason printed (e.g. "SPACETIMEDB_URL is not set"). */
  skipReason?: string;
  createHarness: () => Promise<BusClientContractHarness>;
  /** Clients racing in the concurrent-claims test. @default 8 */
  racingClients?: number;
}

/** Resolves when `predicate` holds after some callback, or rejects after `timeoutMs` with `what`. */
async function eventually(predicate: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('Expected the call to be rejected');
}

function uniqueName(prefix: string): string {
  return `${prefix}${randomBytes(4).toString('hex')}`;
}

const newTask = (title: string, priority = 5): ReducerArgs<'create_task'> => ({
  title,
  description: 'contract suite task',
  priority,
  depends_on: [],
  stimulus_id: null,
  reserved_for: null,
});

/**
 * The behaviour every BusClient implementation must show, whichever host it talks to. Runs against
 * the embedded bus in CI and against a real SpacetimeDB where one is configured.
 */
export function describeBusClientContract(label: string, options: BusClientContractOptions): void {
  if (options.skipReason !== undefined) {
    describe.skip(`BusClient contract: ${label} (skipped: ${options.skipReason})`, () => {
      it('needs a host', () => {});
    });
    console.info(`[bus-client contract] ${label} skipped: ${options.skipReason}`);
    return;
  }

  describe(`BusClient contract: ${label}`, () => {
    let harness: BusClientContractHarness;
    let admin: BusClient;
    const open: BusClient[] = [];

    /** A connected client registered as an agent under a fresh name. */
    async function agent(prefix: string): Promise<BusClient> {
      const name = uniqueName(prefix);
      const client = await harness.connect(name);
      open.push(client);
      await admin.reducers.registerAgent({ name, identity: client.identity, role: 'contract' });
      return client;
    }

    /** The id of the one task with this title, read from the client's cache. */
    function taskId(client: BusClient, title: string): number | bigint {
      const rows = client.rows('task').filter((row) => row.title === title);
      expect(rows).toHaveLength(1);
      return rows[0]!.id;
    }

    beforeAll(async () => {
      harness = await options.createHarness();
      admin = await harness.connectAdmin();
    });

    afterAll(async () => {
      await Promise.all(open.map((client) => client.dispose()));
      await admin?.dispose();
      await harness?.dispose();
    });

    it('gives each client a stable hex identity of its own', async () => {
      const one = await harness.connect(uniqueName('One'));
      const two = await harness.connect(uniqueName('Two'));
      open.push(one, two);
      expect(one.identity).toMatch(/^[0-9a-f]{16,}$/);
      expect(two.identity).not.toBe(one.identity);
    });

    it('fires onInsert then onApplied for the initial rows, and onInsert for rows written later', async () => {
      const client = await agent('Sub');
      const title = uniqueName('initial-');
      await client.reducers.createTask(newTask(title));
      const events: string[] = [];
      const subscription = client.subscribe(`SELECT * FROM task WHERE title = '${title}'`, {
        onInsert: (row, table) => events.push(`insert ${table} ${String(row.title)} ${String(row.state)}`),
        onApplied: () => events.push('applied'),
      });
      await subscription.ready;
      expect(events).toEqual([`insert task ${title} queued`, 'applied']);
      expect(subscription.active).toBe(true);

      const watcher = await agent('Watch');
      const seen: BusRowOf<'task'>[] = [];
      const all = watcher.subscribe('SELECT * FROM task', { onInsert: (row) => seen.push(row) });
      await all.ready;
      const later = uniqueName('later-');
      await client.reducers.createTask(newTask(later, 7));
      await eventually(() => seen.some((row) => row.title === later), 'the watcher to see the new task');
      const row = seen.find((candidate) => candidate.title === later) as BusRowOf<'task'>;
      expect(row.priority).toBe(7);
      expect(row.created_by).toBe(client.identity);
      expect(row.owner).toBeNull();
      await all.dispose();
      await subscription.dispose();
    });

    it("shows the caller's own write in its cache as soon as the reducer call resolves", async () => {
      const client = await agent('Own');
      const subscription = client.subscribe('SELECT * FROM task');
      await subscription.ready;
      const title = uniqueName('own-');
      await client.reducers.createTask(newTask(title));
      expect(client.rows('task').some((row) => row.title === title)).toBe(true);
      expect(client.cache.task?.some((row) => row.title === title)).toBe(true);
      await subscription.dispose();
    });

    it('reports updates with old and new rows, and an update that leaves the query as a delete', async () => {
      const client = await agent('Upd');
      const title = uniqueName('update-');
      const all = client.subscribe('SELECT * FROM task');
      await all.ready;
      await client.reducers.createTask(newTask(title));
      const id = taskId(client, title);

      const updates: [BusRowOf<'task'>, BusRowOf<'task'>][] = [];
      const deletes: BusRowOf<'task'>[] = [];
      const queued = client.subscribe(`SELECT * FROM task WHERE state = 'queued' AND title = '${title}'`, {
        onDelete: (row) => deletes.push(row),
      });
      const mine = client.subscribe(`SELECT * FROM task WHERE title = '${title}'`, {
        onUpdate: (oldRow, newRow) => updates.push([oldRow, newRow]),
      });
      await Promise.all([queued.ready, mine.ready]);

      await client.reducers.claimTask({ task_id: id, lease_seconds: 60 });
      await eventually(() => updates.length === 1 && deletes.length === 1, 'the claim to be reported');
      const [oldRow, newRow] = updates[0] as [BusRowOf<'task'>, BusRowOf<'task'>];
      expect([oldRow.state, newRow.state]).toEqual(['queued', 'claimed']);
      expect(newRow.owner).not.toBeNull();
      expect(deletes[0]?.state).toBe('queued');
      await Promise.all([all.dispose(), queued.dispose(), mine.dispose()]);
    });

    it('rejects a refused reducer call with REDUCER_REJECTED and its message, writing nothing', async () => {
      const client = await agent('Rej');
      const subscription = client.subscribe('SELECT * FROM task');
      await subscription.ready;
      const before = client.rows('task').length;
      const error = await rejection(client.reducers.createTask(newTask('')));
      expect(isClawError(error, 'REDUCER_REJECTED')).toBe(true);
      expect((error as Error).message).toMatch(/title/);
      expect(client.rows('task')).toHaveLength(before);
      await subscription.dispose();
    });

    it('enforces ownership: another agent cannot complete a task it does not own', async () => {
      const owner = await agent('Own');
      const other = await agent('Oth');
      const subscription = owner.subscribe('SELECT * FROM task');
      await subscription.ready;
      const title = uniqueName('owned-');
      await owner.reducers.createTask(newTask(title));
      const id = taskId(owner, title);
      await owner.reducers.claimTask({ task_id: id, lease_seconds: 60 });
      const error = await rejection(other.reducers.completeTask({ task_id: id, result: 'stolen' }));
      expect(isClawError(error, 'REDUCER_REJECTED')).toBe(true);
      await owner.reducers.completeTask({ task_id: id, result: 'done' });
      const row = owner.rows('task').find((candidate) => candidate.title === title);
      expect(row?.state).toBe('completed');
      expect(row?.result).toBe('done');
      await subscription.dispose();
    });

    it('rejects an unknown reducer with UNKNOWN_REDUCER', async () => {
      const client = await agent('Unk');
      // A compile error in TypeScript; JavaScript callers and stale builds still reach the host.
      // @ts-expect-error: no reducer has this name
      const error = await rejection(client.callReducer('no_such_reducer', {}));
      expect(isClawError(error, 'UNKNOWN_REDUCER')).toBe(true);
    });

    it('refuses a malformed subscription with SUBSCRIPTION_INVALID', async () => {
      const client = await agent('Bad');
      // @ts-expect-error: only `SELECT *` queries type-check; the client refuses others at run time too
      expect(() => client.subscribe('SELECT title FROM task')).toThrow(/SELECT \*/);
      let reported: unknown;
      const error = await rejection(
        (async () => {
          // @ts-expect-error: no such table
          const subscription = client.subscribe('SELECT * FROM no_such_table', {
            onError: (cause) => {
              reported = cause;
            },
          });
          await subscription.ready;
        })(),
      );
      expect(isClawError(error, 'SUBSCRIPTION_INVALID')).toBe(true);
      if (reported !== undefined) expect(isClawError(reported, 'SUBSCRIPTION_INVALID')).toBe(true);
    });

    it('keeps a row two subscriptions share until both end, and drops it without callbacks', async () => {
      const client = await agent('Shr');
      const title = uniqueName('shared-');
      await client.reducers.createTask(newTask(title));
      const deletes: BusRowOf<'task'>[] = [];
      const one = client.subscribe(`SELECT * FROM task WHERE title = '${title}'`, {
        onDelete: (row) => deletes.push(row),
      });
      const two = client.subscribe("SELECT * FROM task WHERE state = 'queued'");
      await Promise.all([one.ready, two.ready]);
      const has = (): boolean => client.rows('task').some((row) => row.title === title);
      expect(has()).toBe(true);
      await one.dispose();
      expect(has()).toBe(true);
      await two.dispose();
      await eventually(() => !has(), 'the row to leave the cache');
      expect(deletes).toEqual([]);
    });

    it('delivers each subscriber every committed change, in commit order', async () => {
      const writer = await agent('Wr');
      const prefix = uniqueName('order-');
      const readers = await Promise.all([agent('Rd'), agent('Rd'), agent('Rd')]);
      const seen = readers.map(() => [] as string[]);
      const subscriptions = readers.map((reader, index) =>
        reader.subscribe('SELECT * FROM task', {
          onInsert: (row) => {
            if (String(row.title).startsWith(prefix)) seen[index]?.push(String(row.title));
          },
        }),
      );
      await Promise.all(subscriptions.map((subscription) => subscription.ready));
      const titles = Array.from({ length: 20 }, (_, index) => `${prefix}${String(index).padStart(2, '0')}`);
      for (const title of titles) await writer.reducers.createTask(newTask(title));
      await eventually(() => seen.every((list) => list.length === titles.length), 'every reader to see every task');
      for (const list of seen) expect(list).toEqual(titles);
      await Promise.all(subscriptions.map((subscription) => subscription.dispose()));
    });

    it('lets exactly one of many racing clients claim each task', async () => {
      const racers = await Promise.all(Array.from({ length: options.racingClients ?? 8 }, () => agent('Race')));
      const prefix = uniqueName('race-');
      const creator = racers[0] as BusClient;
      const subscription = creator.subscribe('SELECT * FROM task');
      await subscription.ready;
      const titles = Array.from({ length: 10 }, (_, index) => `${prefix}${index}`);
      for (const title of titles) await creator.reducers.createTask(newTask(title));
      const ids = titles.map((title) => taskId(creator, title));

      const wins = new Map<string, string[]>();
      await Promise.all(
        racers.map(async (racer) => {
          for (const id of ids) {
            try {
              await racer.reducers.claimTask({ task_id: id, lease_seconds: 600 });
              const list = wins.get(String(id)) ?? [];
              list.push(racer.name);
              wins.set(String(id), list);
            } catch (error) {
              if (!isClawError(error, 'REDUCER_REJECTED')) throw error;
            }
          }
        }),
      );
      for (const id of ids) expect(wins.get(String(id))).toHaveLength(1);
      await eventually(
        () =>
          creator.rows('task').filter((row) => titles.includes(String(row.title)) && row.state === 'claimed').length ===
          ids.length,
        'every task to show as claimed',
      );
      for (const row of creator.rows('task').filter((candidate) => titles.includes(String(candidate.title)))) {
        expect(wins.get(String(row.id))).toEqual([row.owner]);
      }
      await subscription.dispose();
    });
  });
}
