/**
 * `npm run bench -- bus [--quick]`
 *
 * The embedded bus over IPC: reducer calls/s (one caller awaiting each call, and several pipelining
 * connections), p50/p99 call latency, and write -> notify latency to 5 subscribers. Baselines measured
 * in the same run: raw better-sqlite3 doing the same writes with the host's pragmas (WAL,
 * synchronous=NORMAL), one transaction per write and, as the baseline for the host's group commit
 * (docs/bus.md), 64 writes per transaction; and the same reducer run in-process by EmbeddedDatabase
 * (no IPC, one transaction per call). The host runs in its own process, as the orchestrator does;
 * clients run here.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { EmbeddedBusClient, type ReducerArgs } from '@clawfleet/bus-client';
import { EmbeddedDatabase, identityForName } from '@clawfleet/embedded-bus';
import { IpcClient } from '@clawfleet/ipc';
import Database from 'better-sqlite3';
import { runInLanes } from './support/lanes.ts';
import { format, machineDescription, percentile, table } from './support/statistics.ts';

const HOST = fileURLToPath(new URL('../packages/embedded-bus/src/bin/embedded-bus-host.ts', import.meta.url));
const ADMIN_TOKEN = 'bench-admin-token';
const AGENT_TOKEN = 'bench-agent-token';
const WRITERS = ['BenchWriter0', 'BenchWriter1', 'BenchWriter2', 'BenchWriter3'];
const SUBSCRIBERS = ['BenchReader0', 'BenchReader1', 'BenchReader2', 'BenchReader3', 'BenchReader4'];

interface Figures {
  callsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

const taskArgs = (title: string): ReducerArgs<'create_task'> => ({
  title,
  description: 'benchmark task',
  priority: 5,
  depends_on: [],
  stimulus_id: null,
  reserved_for: null,
});

async function startHost(databasePath: string, socketPath: string): Promise<ChildProcess> {
  const tokens = Object.fromEntries([
    ['orchestrator', ADMIN_TOKEN],
    ...[...WRITERS, ...SUBSCRIBERS].map((name) => [name, AGENT_TOKEN]),
  ]);
  const child = spawn(process.execPath, ['--import', 'tsx', HOST, '--database', databasePath, '--socket', socketPath], {
    env: { ...process.env, CLAW_BUS_TOKENS: JSON.stringify(tokens) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      if (line.includes('"ready"')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`bus host exited with ${code}`)));
  });
  return child;
}

/** Sequential calls: each awaited before the next; latency per call. */
async function sequential(count: number, call: (index: number) => Promise<void> | void): Promise<Figures> {
  const latencies: number[] = [];
  const started = performance.now();
  for (let index = 0; index < count; index++) {
    const before = performance.now();
    await call(index);
    latencies.push(performance.now() - before);
  }
  const seconds = (performance.now() - started) / 1000;
  return { callsPerSecond: count / seconds, p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99) };
}

/** `clients` connections, each keeping `depth` calls in flight, `count` calls in all. */
async function pipelined(clients: EmbeddedBusClient[], depth: number, count: number, prefix: string): Promise<Figures> {
  const latencies: number[] = [];
  const started = performance.now();
  await runInLanes(clients.length * depth, count, async (index, lane) => {
    const before = performance.now();
    await clients[Math.floor(lane / depth)]!.callReducer('create_task', taskArgs(`${prefix}${index}`));
    latencies.push(performance.now() - before);
  });
  const seconds = (performance.now() - started) / 1000;
  return { callsPerSecond: count / seconds, p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99) };
}

/** IPC alone: `bus.identity` (no reducer, no SQLite), same connections and depth as the pipelined writes. */
async function ipcOnly(socketPath: string, names: string[], depth: number, count: number): Promise<Figures> {
  const ipcClients = await Promise.all(
    names.map((agent) => IpcClient.connect({ socketPath, agent, token: AGENT_TOKEN, requestTimeoutMs: 120_000 })),
  );
  const latencies: number[] = [];
  const started = performance.now();
  await runInLanes(ipcClients.length * depth, count, async (_index, lane) => {
    const before = performance.now();
    await ipcClients[Math.floor(lane / depth)]!.request('bus.identity', {});
    latencies.push(performance.now() - before);
  });
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(ipcClients.map((client) => client.close()));
  return { callsPerSecond: count / seconds, p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99) };
}

/**
 * Raw better-sqlite3: the same row written by a prepared INSERT, `perTransaction` writes per
 * transaction. Latency is per transaction (what a write waits for its commit, at most).
 */
function rawSqlite(path: string, count: number, perTransaction = 1): Promise<Figures> {
  const database = new Database(path);
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  database.exec(`CREATE TABLE task (
    id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT NOT NULL, description TEXT NOT NULL, priority INTEGER NOT NULL,
    state TEXT NOT NULL, created_by BLOB NOT NULL, stimulus_id INTEGER, reserved_for TEXT, owner TEXT,
    lease_expires_at INTEGER, attempts INTEGER NOT NULL, result TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
    CREATE INDEX task_state ON task(state); CREATE INDEX task_owner ON task(owner);`);
  const insert = database.prepare(
    `INSERT INTO task (title, description, priority, state, created_by, stimulus_id, reserved_for, owner,
      lease_expires_at, attempts, result, created_at, updated_at) VALUES (?, ?, 5, 'queued', ?, NULL, NULL, NULL, NULL, 0, NULL, ?, ?)`,
  );
  const creator = Buffer.from(identityForName('orchestrator'), 'hex');
  const write = database.transaction((first: number) => {
    for (let index = first; index < first + perTransaction; index++) {
      const now = Date.now() * 1000;
      insert.run(`raw${index}`, 'benchmark task', creator, now, now);
    }
  });
  const transactions = Math.ceil(count / perTransaction);
  return sequential(transactions, (index) => write(index * perTransaction))
    .then((figures) => ({ ...figures, callsPerSecond: figures.callsPerSecond * perTransaction }))
    .finally(() => database.close());
}

export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const counts = {
    sequential: quick ? 1_000 : 5_000,
    pipelined: quick ? 5_000 : 40_000,
    notify: quick ? 300 : 2_000,
  };
  const directory = mkdtempSync(join(tmpdir(), 'claw-bench-bus-'));
  const socketPath = join(directory, 'bus.sock');
  let host: ChildProcess | undefined;
  const clients: EmbeddedBusClient[] = [];
  try {
    const raw = await rawSqlite(join(directory, 'raw.sqlite'), counts.sequential);
    const rawGrouped = await rawSqlite(join(directory, 'raw-grouped.sqlite'), counts.pipelined, 64);

    const inProcessDatabase = EmbeddedDatabase.open({ path: join(directory, 'in-process.sqlite') });
    const inProcess = await sequential(counts.sequential, (index) => {
      inProcessDatabase.callReducer('orchestrator', 'create_task', taskArgs(`local${index}`));
    });
    inProcessDatabase.close();

    host = await startHost(join(directory, 'bus.sqlite'), socketPath);
    const connect = (name: string, token: string) =>
      EmbeddedBusClient.connect({ socketPath, name, token, requestTimeoutMs: 120_000 }).then((client) => {
        clients.push(client);
        return client;
      });
    const admin = await connect('orchestrator', ADMIN_TOKEN);
    for (const name of [...WRITERS, ...SUBSCRIBERS]) {
      await admin.callReducer('register_agent', { name, identity: identityForName(name), role: 'bench' });
    }
    const writers = await Promise.all(WRITERS.map((name) => connect(name, AGENT_TOKEN)));
    const writer = writers[0] as EmbeddedBusClient;

    const overIpc = await sequential(counts.sequential, (index) =>
      writer.callReducer('create_task', taskArgs(`seq${index}`)),
    );
    const overIpcPipelined = await pipelined(writers, 16, counts.pipelined, 'pipe');
    const ipcAlone = await ipcOnly(socketPath, WRITERS, 16, counts.pipelined);

    // Write -> notify: each subscriber records when its onInsert fires for a title carrying the send time.
    const notifyLatencies: number[] = [];
    const sentAt = new Map<string, number>();
    const subscribers = await Promise.all(SUBSCRIBERS.map((name) => connect(name, AGENT_TOKEN)));
    const subscriptions = subscribers.map((subscriber) =>
      subscriber.subscribe('SELECT * FROM task WHERE priority = 7', {
        onInsert: (row) => {
          const sent = sentAt.get(String(row.title));
          if (sent !== undefined) notifyLatencies.push(performance.now() - sent);
        },
      }),
    );
    await Promise.all(subscriptions.map((subscription) => subscription.ready));
    for (let index = 0; index < counts.notify; index++) {
      const title = `notify${index}`;
      sentAt.set(title, performance.now());
      await writer.callReducer('create_task', { ...taskArgs(title), priority: 7 });
    }
    const deadline = Date.now() + 10_000;
    while (notifyLatencies.length < counts.notify * SUBSCRIBERS.length && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    if (notifyLatencies.length !== counts.notify * SUBSCRIBERS.length) {
      throw new Error(`only ${notifyLatencies.length} of ${counts.notify * SUBSCRIBERS.length} notifications arrived`);
    }

    console.log(`bus benchmark — ${await machineDescription()} — ${new Date().toISOString()}`);
    const row = (label: string, figures: Figures): (string | number)[] => [
      label,
      format(figures.callsPerSecond, 0),
      format(figures.p50Ms * 1000, 0),
      format(figures.p99Ms * 1000, 0),
      `${format(figures.callsPerSecond / rawGrouped.callsPerSecond, 3)}x`,
      `${format(figures.callsPerSecond / raw.callsPerSecond, 3)}x`,
    ];
    // Like for like: group commit against raw SQLite that batches its commits too.
    console.log(
      `group commit vs raw batched transactions: ` +
        `${format(overIpcPipelined.callsPerSecond / rawGrouped.callsPerSecond, 3)}x ` +
        `(vs one transaction per insert: ${format(overIpcPipelined.callsPerSecond / raw.callsPerSecond, 3)}x)`,
    );
    console.log(
      table(
        ['writes (create_task)', 'calls/s', 'p50 µs', 'p99 µs', 'vs raw batched', 'vs raw, 1 tx per insert'],
        [
          row('raw better-sqlite3 INSERT, WAL, synchronous=NORMAL', raw),
          row('raw better-sqlite3, 64 INSERTs per transaction (µs per tx)', rawGrouped),
          row('EmbeddedDatabase.callReducer in-process', inProcess),
          row('bus over IPC, 1 caller awaiting each call', overIpc),
          row(`bus over IPC, ${WRITERS.length} connections x 16 in flight (group commit)`, overIpcPipelined),
          row(`(IPC alone: bus.identity, ${WRITERS.length} connections x 16 in flight)`, ipcAlone),
        ],
      ),
    );
    const notifyP50 = percentile(notifyLatencies, 0.5);
    const notifyP99 = percentile(notifyLatencies, 0.99);
    console.log(
      `\nwrite -> notify, ${SUBSCRIBERS.length} subscribers, ${counts.notify} writes: ` +
        `p50 ${format(notifyP50 * 1000, 0)} µs, p99 ${format(notifyP99 * 1000, 0)} µs ` +
        `(raw SQLite write p50 ${format(raw.p50Ms * 1000, 0)} µs: ${format(notifyP50 / raw.p50Ms, 1)}x)`,
    );
    const bestIpc = Math.max(overIpc.callsPerSecond, overIpcPipelined.callsPerSecond);
    console.log(
      `\n${table(
        ['target', 'measured', 'met'],
        [
          ['>= 10,000 reducer calls/s over IPC', format(bestIpc, 0), bestIpc >= 10_000 ? 'yes' : 'NO'],
          ['write -> notify p99 < 5 ms, 5 subscribers', `${format(notifyP99, 2)} ms`, notifyP99 < 5 ? 'yes' : 'NO'],
        ],
      )}`,
    );
  } finally {
    await Promise.all(clients.map((client) => client.dispose().catch(() => {})));
    host?.kill('SIGTERM');
    rmSync(directory, { recursive: true, force: true });
  }
}
