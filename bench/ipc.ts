/**
 * `npm run bench -- ipc [--quick]`
 *
 * Round-trip latency (p50, p99) and one-way throughput (frames/s, MB/s) of the Clawfleet IPC for
 * 100-byte and 64-KiB payloads, against two baselines measured in the same run: a raw Unix-socket
 * echo of length-prefixed Buffers (the floor for Node) and JSON over HTTP/1.1 keep-alive on a Unix
 * socket (what the design rejects). Each server runs in its own process.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IpcClient } from '@clawfleet/ipc';
import { runInLanes } from './support/lanes.ts';
import { onLengthPrefixedBodies } from './support/length-prefixed.ts';
import { format, machineDescription, percentile, table } from './support/statistics.ts';

type Mode = 'claw' | 'raw' | 'http' | 'http-stream';
interface Transport {
  echo(payload: string): Promise<void>;
  /** Resolves when all `count` messages of `size` bytes have arrived. */
  flood(count: number, size: number): Promise<void>;
  close(): Promise<void>;
}

const peerPath = fileURLToPath(new URL('./support/ipc-peer.ts', import.meta.url));

/**
 * Client and servers are pinned to different cores where `taskset` exists: otherwise the
 * scheduler sometimes puts both on one core, and a round trip doubles from one run to the next.
 */
const pinning = cpus().length >= 2 && spawnSync('taskset', ['-p', '-c', '0', String(process.pid)]).status === 0;

async function startPeer(mode: Exclude<Mode, 'http-stream'>, socketPath: string): Promise<ChildProcess> {
  const command = [process.execPath, '--import', 'tsx', peerPath, mode, socketPath];
  const child = pinning
    ? spawn('taskset', ['-c', '1', ...command], { stdio: ['ignore', 'pipe', 'inherit'] })
    : spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`${mode} peer exited with ${code}`)));
  });
  return child;
}

async function clawTransport(socketPath: string): Promise<Transport> {
  const client = await IpcClient.connect({
    socketPath,
    agent: 'Bench',
    token: 'bench-token',
    requestTimeoutMs: 120_000,
  });
  return {
    echo: async (payload) => {
      await client.request('bench.echo', payload);
    },
    flood: async (count, size) => {
      let received = 0;
      await client.request('bench.flood', { count, size }, { onDelta: () => (received += 1) });
      if (received !== count) throw new Error(`claw flood: ${received} of ${count}`);
    },
    close: () => client.close(),
  };
}

async function rawTransport(socketPath: string): Promise<Transport> {
  const socket = await new Promise<Socket>((resolve, reject) => {
    const created = connect(socketPath, () => resolve(created));
    created.once('error', reject);
  });
  let onBody: ((body: Buffer) => void) | undefined;
  onLengthPrefixedBodies(socket, (body) => onBody?.(body));
  const send = (body: Buffer): void => {
    const header = Buffer.allocUnsafe(4);
    header.writeUInt32BE(body.length);
    socket.write(Buffer.concat([header, body]));
  };
  return {
    echo: (payload) =>
      new Promise((resolve) => {
        onBody = () => resolve();
        send(Buffer.concat([Buffer.from([1]), Buffer.from(payload)]));
      }),
    flood: (count, size) =>
      new Promise((resolve) => {
        let received = 0;
        onBody = () => {
          received += 1;
          if (received === count) resolve();
        };
        const body = Buffer.alloc(9);
        body[0] = 2;
        body.writeUInt32BE(count, 1);
        body.writeUInt32BE(size, 5);
        send(body);
      }),
    close: async () => {
      socket.destroy();
    },
  };
}

/** HTTP in-flight window for one-way messages: one request per message over keep-alive sockets. */
const HTTP_WINDOW = 16;

async function httpTransport(socketPath: string, streamed = false): Promise<Transport> {
  const agent = new Agent({ keepAlive: true, maxSockets: HTTP_WINDOW });
  const post = (path: string, body: unknown, onChunk?: (chunk: Buffer) => void): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const text = JSON.stringify(body);
      const request = httpRequest(
        {
          socketPath,
          path,
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => (onChunk ? onChunk(chunk) : chunks.push(chunk)));
          response.on('end', () => resolve(Buffer.concat(chunks)));
        },
      );
      request.on('error', reject);
      request.end(text);
    });
  return {
    echo: async (payload) => {
      const body = await post('/echo', { payload });
      JSON.parse(body.toString('utf8'));
    },
    flood: async (count, size) => {
      if (!streamed) {
        const body = { data: 'x'.repeat(size) };
        await runInLanes(HTTP_WINDOW, count, async () => {
          await post('/sink', body);
        });
        return;
      }
      let received = 0;
      let partial = '';
      await post('/flood', { count, size }, (chunk) => {
        const lines = (partial + chunk.toString('utf8')).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          JSON.parse(line);
          received += 1;
        }
      });
      if (received !== count) throw new Error(`http flood: ${received} of ${count}`);
    },
    close: async () => agent.destroy(),
  };
}

interface Figures {
  p50: number;
  p99: number;
  framesPerSecond: number;
  megabytesPerSecond: number;
}

/** One round of one transport: `roundTrips` sequential echoes, then a flood of `floodCount`. */
async function measureRound(
  transport: Transport,
  size: number,
  roundTrips: number,
  floodCount: number,
): Promise<Figures> {
  const payload = 'x'.repeat(size);
  const latencies: number[] = [];
  for (let index = 0; index < roundTrips; index++) {
    const start = process.hrtime.bigint();
    await transport.echo(payload);
    latencies.push(Number(process.hrtime.bigint() - start) / 1000);
  }
  const start = process.hrtime.bigint();
  await transport.flood(floodCount, size);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return {
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    framesPerSecond: floodCount / seconds,
    megabytesPerSecond: (floodCount * size) / seconds / 1e6,
  };
}

/** The median of each figure across rounds: a round slowed by another process counts once. */
function medianFigures(rounds: Figures[]): Figures {
  const median = (pick: (figures: Figures) => number) => percentile(rounds.map(pick), 0.5);
  return {
    p50: median((figures) => figures.p50),
    p99: median((figures) => figures.p99),
    framesPerSecond: median((figures) => figures.framesPerSecond),
    megabytesPerSecond: median((figures) => figures.megabytesPerSecond),
  };
}

export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const directory = mkdtempSync(join(tmpdir(), 'claw-bench-'));
  const sizes = [
    { label: '100 B', size: 100, roundTrips: quick ? 1000 : 4000, flood: quick ? 20_000 : 60_000 },
    { label: '64 KiB', size: 64 * 1024, roundTrips: quick ? 100 : 400, flood: quick ? 300 : 5000 },
  ];
  const factories: Record<Mode, (socketPath: string) => Promise<Transport>> = {
    claw: clawTransport,
    raw: rawTransport,
    http: (socketPath) => httpTransport(socketPath),
    'http-stream': (socketPath) => httpTransport(socketPath, true),
  };
  // All servers run at once and the transports take turns in short rounds, so a burst of load
  // from elsewhere on the machine hits every transport alike; each figure is a median of rounds.
  const modes = ['raw', 'claw', 'http', 'http-stream'] as const;
  const rounds = quick ? 3 : 7;
  const samples = new Map<string, Figures[]>();
  const peers: ChildProcess[] = [];
  const transports = new Map<Mode, Transport>();
  try {
    for (const mode of modes) {
      const socketPath = join(directory, `${mode}.sock`);
      if (mode !== 'http-stream') peers.push(await startPeer(mode, socketPath));
      transports.set(mode, await factories[mode](mode === 'http-stream' ? join(directory, 'http.sock') : socketPath));
    }
    for (const entry of sizes) {
      // Warm-up: JIT and connection state, not measured.
      for (const mode of modes)
        await measureRound(transports.get(mode)!, entry.size, entry.roundTrips, entry.flood / 4);
      for (let round = 0; round < rounds; round++) {
        for (const mode of modes) {
          const key = `${mode} ${entry.label}`;
          const figures = await measureRound(transports.get(mode)!, entry.size, entry.roundTrips, entry.flood);
          samples.set(key, [...(samples.get(key) ?? []), figures]);
        }
      }
    }
  } finally {
    for (const transport of transports.values()) await transport.close();
    for (const peer of peers) peer.kill();
    rmSync(directory, { recursive: true, force: true });
  }
  const results = new Map([...samples].map(([key, rounds]) => [key, medianFigures(rounds)]));

  console.log(
    `ipc benchmark — ${await machineDescription()} — ${new Date().toISOString()} — medians of ${rounds} interleaved rounds${pinning ? ', client on core 0, servers on core 1' : ''}`,
  );
  const rows: (string | number)[][] = [];
  for (const entry of sizes) {
    const raw = results.get(`raw ${entry.label}`)!;
    const http = results.get(`http ${entry.label}`)!;
    for (const mode of ['raw', 'claw', 'http', 'http-stream'] as const) {
      const figures = results.get(`${mode} ${entry.label}`)!;
      rows.push([
        entry.label,
        mode,
        format(figures.p50),
        format(figures.p99),
        `${format(figures.p50 / raw.p50, 2)}x`,
        format(figures.framesPerSecond, 0),
        format(figures.megabytesPerSecond),
        `${format(figures.framesPerSecond / http.framesPerSecond, 2)}x`,
      ]);
      if (mode === 'http-stream') rows.at(-1)!.splice(2, 3, 'as http', 'as http', '-');
    }
  }
  console.log(
    table(
      ['payload', 'transport', 'RTT p50 µs', 'RTT p99 µs', 'p50 vs raw', 'one-way frames/s', 'one-way MB/s', 'vs http'],
      rows,
    ),
  );
  const claw100 = results.get('claw 100 B')!;
  const raw100 = results.get('raw 100 B')!;
  const http100 = results.get('http 100 B')!;
  const claw64 = results.get('claw 64 KiB')!;
  const http64 = results.get('http 64 KiB')!;
  console.log('\ntargets');
  console.log(
    table(
      ['target', 'measured', 'met'],
      [
        [
          '100 B RTT p50 within 1.3x raw',
          `${format(claw100.p50 / raw100.p50, 2)}x`,
          claw100.p50 / raw100.p50 <= 1.3 ? 'yes' : 'NO',
        ],
        [
          'throughput >= 3x JSON/HTTP (100 B / 64 KiB)',
          `${format(claw100.framesPerSecond / http100.framesPerSecond, 2)}x / ${format(claw64.framesPerSecond / http64.framesPerSecond, 2)}x`,
          claw100.framesPerSecond / http100.framesPerSecond >= 3 && claw64.framesPerSecond / http64.framesPerSecond >= 3
            ? 'yes'
            : 'NO',
        ],
        [
          '>= 100,000 small frames/s one-way',
          format(claw100.framesPerSecond, 0),
          claw100.framesPerSecond >= 100_000 ? 'yes' : 'NO',
        ],
      ],
    ),
  );
}
