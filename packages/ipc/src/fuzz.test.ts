import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { encodeFrame, type Frame } from '@clawfleet/protocol';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { IpcClient } from './client/ipc-client.ts';
import { IpcServer } from './server/ipc-server.ts';
import { tokenAuthenticator } from './shared/token-authenticator.ts';
import { openRaw } from './testing/raw-peer.ts';
import { tempSocketPath } from './testing/temp-socket.ts';

const tokens = { LeadClaw: 'lead-secret', DevClaw: 'dev-secret' };
const TOTAL_FRAMES = 100_000;
const FRAMES_PER_CONNECTION = 50;
const PARALLEL_CONNECTIONS = 16;

/** A small deterministic PRNG (mulberry32) so a failure can be replayed from its seed. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = Math.imul(state ^ (state >>> 15), 1 | state);
    value ^= value + Math.imul(value ^ (value >>> 7), 61 | value);
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}

const corpus: Frame[] = [
  { type: 'request', id: 1, method: 'echo.say', params: { text: 'hello' } },
  { type: 'request', id: 2, method: 'echo.say', params: { text: 'x'.repeat(300) }, timeoutMs: 1000 },
  { type: 'cancel', id: 1, reason: 'no' },
  { type: 'heartbeat', kind: 'ping', nonce: 5 },
  { type: 'heartbeat', kind: 'pong', nonce: 5 },
  { type: 'goodbye', reason: 'bye', reconnect: false },
  { type: 'request', id: 3, method: 'no.such', params: [1, 2, { a: null }] },
  { type: 'event', topic: 'a.b', data: 1 },
  { type: 'hello', agent: 'LeadClaw', token: tokens.LeadClaw, protocolVersion: 1, capabilities: [] },
].map((frame) => frame as Frame);
const encodedCorpus = corpus.map((frame) => encodeFrame(frame));

function mutate(random: () => number): Buffer {
  const pick = encodedCorpus[Math.floor(random() * encodedCorpus.length)]!;
  const bytes = Buffer.from(pick);
  const strategy = Math.floor(random() * 7);
  switch (strategy) {
    case 0: // a frame as it is: the server must keep handling valid ones between bad ones
      return bytes;
    case 1: {
      const flips = 1 + Math.floor(random() * 4);
      for (let index = 0; index < flips; index++) {
        const at = Math.floor(random() * bytes.length);
        bytes[at] = bytes[at]! ^ (1 << Math.floor(random() * 8));
      }
      return bytes;
    }
    case 2: // truncate
      return bytes.subarray(0, Math.floor(random() * bytes.length));
    case 3: {
      // random payload under a valid header
      const payload = Buffer.alloc(Math.floor(random() * 64));
      for (let index = 0; index < payload.length; index++) payload[index] = Math.floor(random() * 256);
      bytes.writeUInt32BE(payload.length, 12);
      return Buffer.concat([bytes.subarray(0, 16), payload]);
    }
    case 4: // wrong announced length
      bytes.writeUInt32BE(Math.floor(random() * 0xffff_ffff), 12);
      return bytes;
    case 5: {
      // bytes inserted in the payload
      const at = 16 + Math.floor(random() * (bytes.length - 16));
      return Buffer.concat([bytes.subarray(0, at), Buffer.from([Math.floor(random() * 256)]), bytes.subarray(at)]);
    }
    default: {
      const noise = Buffer.alloc(1 + Math.floor(random() * 40));
      for (let index = 0; index < noise.length; index++) noise[index] = Math.floor(random() * 256);
      return noise;
    }
  }
}

let socket: ReturnType<typeof tempSocketPath>;
let server: IpcServer;

beforeAll(async () => {
  socket = tempSocketPath();
  server = new IpcServer({
    socketPath: socket.socketPath,
    authenticate: tokenAuthenticator(tokens),
    maxFrameBytes: 64 * 1024,
    handshakeTimeoutMs: 1000,
  });
  server.handle('echo.say', { params: z.object({ text: z.string() }), handler: (params) => params.text });
  await server.listen();
});

afterAll(async () => {
  await server.close({ timeoutMs: 100 });
  socket.cleanup();
});

async function sendBatch(batch: Buffer[]): Promise<void> {
  const raw = await openRaw(socket.socketPath);
  raw.on('data', () => {});
  raw.on('error', () => {});
  await new Promise<void>((resolve) => {
    raw.on('close', () => resolve());
    raw.end(Buffer.concat(batch));
    // A batch may leave the server waiting for the rest of a frame; hang up after a moment.
    setTimeout(() => raw.destroy(), 200).unref();
  });
}

/**
 * A real `gc`, however the test runner started this process: without it the heap figures and
 * the WeakRef check below would measure whatever the collector happened to do.
 */
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

function heapUsed(): number {
  collectGarbage();
  collectGarbage();
  return process.memoryUsage().heapUsed;
}

describe('fuzz', () => {
  it(`survives ${TOTAL_FRAMES} random and mutated frames, and keeps memory and handles flat`, async () => {
    const seed = Number(process.env.CLAW_FUZZ_SEED ?? 0x5eed);
    const random = prng(seed);
    const good = await IpcClient.connect({ socketPath: socket.socketPath, agent: 'DevClaw', token: tokens.DevClaw });
    const connections = TOTAL_FRAMES / FRAMES_PER_CONNECTION;

    // The first half warms up JIT code and lazily created structures; the baseline is taken at the
    // halfway point, so what grows in the second half grows with the number of connections: a leak.
    let heapBefore = 0;
    let handlesBefore = 0;
    let sent = 0;
    // Every authenticated connection of the second half, held weakly: a leak keeps them reachable.
    const secondHalf: WeakRef<object>[] = [];
    const track = (connection: object): void => {
      if (heapBefore !== 0) secondHalf.push(new WeakRef(connection));
    };
    server.on('connection', track);
    for (let round = 0; round < connections; round += PARALLEL_CONNECTIONS) {
      if (heapBefore === 0 && round >= connections / 2) {
        await vi.waitFor(() => expect(server.connections()).toHaveLength(1), { timeout: 5000 });
        heapBefore = heapUsed();
        handlesBefore = process.getActiveResourcesInfo().length;
      }
      const batches: Promise<void>[] = [];
      for (let lane = 0; lane < PARALLEL_CONNECTIONS && round + lane < connections; lane++) {
        // Half the connections authenticate first, so the fuzz reaches the post-handshake paths.
        const batch = random() < 0.5 ? [encodedCorpus.at(-1)!] : [];
        for (let index = 0; index < FRAMES_PER_CONNECTION; index++) batch.push(mutate(random));
        sent += FRAMES_PER_CONNECTION;
        batches.push(sendBatch(batch));
      }
      await Promise.all(batches);
      if (round % 400 === 0)
        await expect(good.request('echo.say', { text: `round ${round}` })).resolves.toBe(`round ${round}`);
    }
    expect(sent).toBeGreaterThanOrEqual(TOTAL_FRAMES);

    await vi.waitFor(() => expect(server.connections().map((connection) => connection.identity)).toEqual(['DevClaw']), {
      timeout: 5000,
    });
    await expect(good.request('echo.say', { text: 'after fuzz' })).resolves.toBe('after fuzz');
    server.off('connection', track);
    // WeakRefs are cleared only after the job that collected them: collect, yield, collect.
    heapUsed();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const heapGrowth = heapUsed() - heapBefore;
    const retained = secondHalf.filter((reference) => reference.deref() !== undefined).length;
    console.log(
      `fuzz: ${sent} frames over ${connections} connections; second half: ${secondHalf.length} authenticated connections, ${retained} still reachable, heap growth ${(heapGrowth / 1024 / 1024).toFixed(1)} MiB`,
    );
    const handlesAfter = process.getActiveResourcesInfo().length;
    // Correctness bounds, not timing: closed connections must not stay reachable or leave sockets
    // behind. The heap bound is loose; the WeakRef check is exact.
    expect(secondHalf.length).toBeGreaterThan(100);
    expect(retained).toBe(0);
    expect(heapGrowth).toBeLessThan(8 * 1024 * 1024);
    expect(handlesAfter).toBeLessThanOrEqual(handlesBefore + 2);
    await good.close();
  });
});
