import type { Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { encodeFrame, type Frame } from '@clawfleet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { IpcClient } from './client/ipc-client.ts';
import { IpcServer } from './server/ipc-server.ts';
import { tokenAuthenticator } from './shared/token-authenticator.ts';
import { openRaw } from './testing/raw-peer.ts';
import { tempSocketPath } from './testing/temp-socket.ts';

/**
 * Fuzzing past the handshake: each session says a valid hello, then sends thousands of frames of
 * every type a peer can send, mutated where the schema still accepts them (unknown and real
 * methods, params of every shape, duplicate and unknown ids, cancels, timeouts, pings, pongs, peer
 * errors), and some sessions end with a frame that must close them (a second hello, a server-only
 * frame type, a goodbye, a byte-level corruption). What is counted is what the server decoded and
 * answered (`IpcServer.stats()`), not what was written: at least 1,000,000 decoded frames.
 * Each session ends with a sentinel request that must be answered when the session is meant to be
 * alive, and the connection must be closed by the server when it is not.
 */

const identities = { LeadClaw: 'lead-secret', DevClaw: 'dev-secret', UXClaw: 'ux-secret', OpsClaw: 'ops-secret' };
const agentNames = Object.keys(identities) as (keyof typeof identities)[];
const TARGET_DECODED = Number(process.env.CLAW_FUZZ_FRAMES ?? 1_000_000);
const FRAMES_PER_SESSION = 2_000;
const PARALLEL_SESSIONS = 8;
const SENTINEL_ID = 0xffff_fff0;
const METHODS = ['echo.say', 'echo.stream', 'echo.wait', 'no.such', 'echo', 'a.b.c'];

/** mulberry32, so a failure can be replayed from its seed. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = Math.imul(state ^ (state >>> 15), 1 | state);
    value ^= value + Math.imul(value ^ (value >>> 7), 61 | value);
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}

function valueOfAnyShape(random: () => number, depth = 0): unknown {
  switch (Math.floor(random() * (depth > 2 ? 6 : 8))) {
    case 0:
      return null;
    case 1:
      return random() < 0.5;
    case 2:
      return Math.floor(random() * 2 ** 32) - 2 ** 31;
    case 3:
      return random() * 1e6;
    case 4:
      return 'x'.repeat(Math.floor(random() * 64));
    case 5:
      return { text: random() < 0.7 ? `t${Math.floor(random() * 1000)}` : Math.floor(random() * 10) };
    case 6:
      return Array.from({ length: Math.floor(random() * 4) }, () => valueOfAnyShape(random, depth + 1));
    default:
      return { count: Math.floor(random() * 4), nested: valueOfAnyShape(random, depth + 1) };
  }
}

/** A frame the schema accepts and the session survives. */
function survivableFrame(random: () => number): Frame {
  const id = 1 + Math.floor(random() * 512);
  const roll = random();
  if (roll < 0.55) {
    const method = METHODS[Math.floor(random() * METHODS.length)]!;
    const params =
      method === 'echo.say' && random() < 0.5
        ? { text: `s${id}` }
        : method === 'echo.stream' && random() < 0.5
          ? { count: Math.floor(random() * 3) }
          : valueOfAnyShape(random);
    const frame: Frame = { type: 'request', id, method, params };
    if (random() < 0.2) frame.timeoutMs = 1 + Math.floor(random() * 50);
    return frame;
  }
  if (roll < 0.7) return random() < 0.5 ? { type: 'cancel', id } : { type: 'cancel', id, reason: 'fuzz' };
  if (roll < 0.9)
    return { type: 'heartbeat', kind: random() < 0.7 ? 'ping' : 'pong', nonce: Math.floor(random() * 2 ** 32) };
  return { type: 'error', error: { code: 'INTERNAL', message: 'peer-side fuzz', retryable: random() < 0.5 } };
}

/** A frame after which the server must close the session. */
function fatalEnding(random: () => number, agent: keyof typeof identities): Buffer {
  const kind = Math.floor(random() * 6);
  const frames: Frame[] = [
    { type: 'hello', agent, token: identities[agent], protocolVersion: 1, capabilities: [] },
    { type: 'response', id: 1, result: null },
    { type: 'event', topic: 'a.b', data: 1 },
    { type: 'welcome', protocolVersion: 1, connectionId: 'c1', capabilities: [], heartbeatIntervalMs: 5 },
    { type: 'goodbye', reason: 'fuzz', reconnect: false },
  ];
  if (kind < frames.length) return encodeFrame(frames[kind]!);
  // A corrupted header: wrong magic.
  const bytes = Buffer.from(encodeFrame({ type: 'heartbeat', kind: 'ping', nonce: 1 }));
  const at = Math.floor(random() * 4);
  bytes[at] = bytes[at]! ^ 0xff;
  return bytes;
}

let socket: ReturnType<typeof tempSocketPath>;
let server: IpcServer;

beforeAll(async () => {
  socket = tempSocketPath();
  server = new IpcServer({
    socketPath: socket.socketPath,
    authenticate: tokenAuthenticator(identities),
    heartbeatIntervalMs: 60_000,
  });
  server.handle('echo.say', { params: z.object({ text: z.string() }), handler: (params) => params.text });
  server.handle('echo.stream', {
    params: z.object({ count: z.number().int().min(0).max(3) }),
    handler: async (params, context) => {
      for (let index = 0; index < params.count; index++) await context.sendDelta(index);
      return params.count;
    },
  });
  server.handle('echo.wait', {
    params: z.unknown(),
    handler: (_params, context) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => resolve('waited'), 1 + (context.requestId % 5));
        context.signal.addEventListener(
          'abort',
          () => {
            clearTimeout(timer);
            reject(context.signal.reason);
          },
          { once: true },
        );
      }),
  });
  await server.listen();
});

afterAll(async () => {
  await server.close({ timeoutMs: 100 });
  socket.cleanup();
});

/** Runs one session; resolves with what happened, rejects if the server did something wrong. */
async function runSession(random: () => number, sessionIndex: number): Promise<'answered' | 'closed'> {
  const agent = agentNames[sessionIndex % agentNames.length]!;
  const fatal = random() < 0.1;
  const sentinel = `sentinel-${sessionIndex}-${Math.floor(random() * 1e9)}`;
  const chunks: Buffer[] = [
    encodeFrame({ type: 'hello', agent, token: identities[agent], protocolVersion: 1, capabilities: [] }),
  ];
  for (let index = 0; index < FRAMES_PER_SESSION; index++) chunks.push(encodeFrame(survivableFrame(random)));
  chunks.push(
    fatal
      ? fatalEnding(random, agent)
      : encodeFrame({ type: 'request', id: SENTINEL_ID, method: 'echo.say', params: { text: sentinel } }),
  );

  const peer: Socket = await openRaw(socket.socketPath);
  peer.on('error', () => {});
  return new Promise((resolve, reject) => {
    const needle = Buffer.from(sentinel);
    let tail: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => {
      peer.destroy();
      reject(new Error(`session ${sessionIndex} (${fatal ? 'fatal' : 'alive'}) got neither its answer nor a close`));
    }, 60_000);
    peer.on('data', (chunk: Buffer) => {
      if (fatal) return;
      // Only the tail can hold a sentinel split across reads.
      const window = tail.length === 0 ? chunk : Buffer.concat([tail, chunk]);
      if (window.includes(needle)) {
        clearTimeout(timer);
        peer.destroy();
        resolve('answered');
        return;
      }
      tail = window.subarray(Math.max(0, window.length - needle.length));
    });
    peer.on('close', () => {
      clearTimeout(timer);
      if (fatal) resolve('closed');
      else reject(new Error(`session ${sessionIndex} was closed by the server though every frame was valid`));
    });
    peer.write(Buffer.concat(chunks));
  });
}

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;
function heapUsed(): number {
  collectGarbage();
  collectGarbage();
  return process.memoryUsage().heapUsed;
}

describe('fuzz of authenticated sessions', () => {
  it(`decodes and answers at least ${TARGET_DECODED.toLocaleString('en')} mutated frames after a valid hello, and stays correct`, async () => {
    const seed = Number(process.env.CLAW_FUZZ_SEED ?? 0xc1a3);
    const random = prng(seed);
    const good = await IpcClient.connect({
      socketPath: socket.socketPath,
      agent: 'DevClaw',
      token: identities.DevClaw,
    });
    const outcomes = { answered: 0, closed: 0 };
    let sessions = 0;
    let heapAtHalf = 0;
    try {
      while (server.stats().framesDecoded < TARGET_DECODED) {
        if (heapAtHalf === 0 && server.stats().framesDecoded >= TARGET_DECODED / 2) heapAtHalf = heapUsed();
        const lanes = Array.from({ length: PARALLEL_SESSIONS }, () => runSession(random, sessions++));
        for (const outcome of await Promise.all(lanes)) outcomes[outcome] += 1;
        await expect(good.request('echo.say', { text: `after ${sessions}` })).resolves.toBe(`after ${sessions}`);
      }
      const stats = server.stats();
      const heapGrowth = heapUsed() - heapAtHalf;
      console.log(
        `session fuzz (seed ${seed}): ${sessions} sessions (${outcomes.answered} answered their sentinel, ${outcomes.closed} closed by a fatal frame), ${stats.framesDecoded} frames decoded, ${stats.framesAnswered} answered, heap growth over the second half ${(heapGrowth / 1048576).toFixed(1)} MiB`,
      );
      expect(stats.framesDecoded).toBeGreaterThanOrEqual(TARGET_DECODED);
      // Requests, pings and the rest: most frames get an answer.
      expect(stats.framesAnswered).toBeGreaterThan(stats.framesDecoded / 2);
      expect(outcomes.answered).toBeGreaterThan(0);
      expect(outcomes.closed).toBeGreaterThan(0);
      expect(heapGrowth).toBeLessThan(16 * 1024 * 1024);
      await expect.poll(() => server.stats()).toMatchObject({ connections: 1, inFlight: 0, queuedReplyBytes: 0 });
    } finally {
      await good.close();
    }
  });
});
