import type { Socket } from 'node:net';
import { encodeFrame, encodeRawFrame, type Frame, FrameDecoder } from '@clawfleet/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { IpcClient } from '../client/ipc-client.ts';
import { tokenAuthenticator } from '../shared/token-authenticator.ts';
import { openRaw } from '../testing/raw-peer.ts';
import { tempSocketPath } from '../testing/temp-socket.ts';
import { IpcServer, type IpcServerOptions } from './ipc-server.ts';

/**
 * Peers that never read their replies, one test per kind of frame they send. The server must stop
 * taking their frames once their unread replies pass the byte budget, so the bytes it holds for
 * them stay under the documented bound (docs/protocol.md, "Memory bound"), and must give all of it
 * back when they leave.
 */

const tokens = { LeadClaw: 'lead-secret', DevClaw: 'dev-secret' };
const BUDGET = 64 * 1024;
const BIG_REPLY = 'x'.repeat(64 * 1024);
let socket: ReturnType<typeof tempSocketPath>;
let server: IpcServer;
let peers: Socket[] = [];
let served = 0;
let streamed = 0;

function startServer(options: Partial<IpcServerOptions> = {}): Promise<void> {
  server = new IpcServer({
    socketPath: socket.socketPath,
    authenticate: tokenAuthenticator(tokens),
    maxQueuedBytesPerIdentity: BUDGET,
    // Nobody is dropped for silence while a test runs.
    heartbeatIntervalMs: 60_000,
    ...options,
  });
  server.handle('echo.say', { params: z.object({ text: z.string() }), handler: (params) => params });
  server.handle('bus.query', {
    params: z.unknown(),
    handler: () => {
      served += 1;
      return BIG_REPLY;
    },
  });
  server.handle('echo.stream', {
    params: z.object({ count: z.number().int() }),
    handler: async (params, context) => {
      for (let index = 0; index < params.count && !context.aborted; index++) {
        streamed += 1;
        await context.sendDelta('d'.repeat(1024));
      }
      return params.count;
    },
  });
  server.handle('echo.wait', {
    params: z.unknown(),
    handler: (_params, context) =>
      new Promise((_resolve, reject) => {
        context.signal.addEventListener('abort', () => reject(context.signal.reason), { once: true });
      }),
  });
  return server.listen();
}

/** A peer that says hello and then never reads. */
async function hostilePeer(agent: keyof typeof tokens = 'LeadClaw'): Promise<Socket> {
  const peer = await openRaw(socket.socketPath);
  peer.pause();
  peer.on('error', () => {});
  peer.write(encodeFrame({ type: 'hello', agent, token: tokens[agent], protocolVersion: 1, capabilities: [] }));
  peers.push(peer);
  return peer;
}

/** Writes `count` copies of `frame` in one write, as a hostile peer would. */
function flood(peer: Socket, frame: (index: number) => Frame, count: number): void {
  const frames: Buffer[] = [];
  for (let index = 0; index < count; index++) frames.push(encodeFrame(frame(index)));
  peer.write(Buffer.concat(frames));
}

/** The bound for one peer: the budget, one reply over it, and the frames of one socket read. */
const boundFor = (largestReply: number) => BUDGET + largestReply;

async function expectBoundedThenFreed(largestReply: number): Promise<void> {
  // The server either pauses the peer (fixed) or lets its replies pile up (the defect).
  await vi.waitFor(() => {
    const stats = server.stats();
    expect(stats.pausedConnections > 0 || stats.queuedReplyBytes > boundFor(largestReply)).toBe(true);
  });
  expect(server.stats().queuedReplyBytes).toBeLessThanOrEqual(boundFor(largestReply));
  for (const peer of peers) peer.destroy();
  await vi.waitFor(() => expect(server.stats()).toMatchObject({ connections: 0, queuedReplyBytes: 0, inFlight: 0 }));
}

beforeEach(() => {
  socket = tempSocketPath();
  peers = [];
  served = 0;
  streamed = 0;
});

afterEach(async () => {
  for (const peer of peers) peer.destroy();
  await server?.close({ timeoutMs: 100 });
  socket.cleanup();
});

describe('memory held for peers that never read', () => {
  it('pauses a peer whose unknown-method errors go unread', async () => {
    await startServer();
    const peer = await hostilePeer();
    flood(peer, (index) => ({ type: 'request', id: index + 1, method: 'no.such', params: null }), 30_000);
    await expectBoundedThenFreed(200);
  });

  it('pauses a peer whose invalid-params errors go unread', async () => {
    await startServer();
    const peer = await hostilePeer();
    flood(peer, (index) => ({ type: 'request', id: index + 1, method: 'echo.say', params: { text: 5 } }), 20_000);
    await expectBoundedThenFreed(400);
  });

  it('pauses a peer whose pongs go unread', async () => {
    await startServer();
    const peer = await hostilePeer();
    flood(peer, (index) => ({ type: 'heartbeat', kind: 'ping', nonce: index }), 150_000);
    await expectBoundedThenFreed(64);
  });

  it('pauses a peer whose duplicate-id errors go unread', async () => {
    await startServer();
    const peer = await hostilePeer();
    flood(peer, () => ({ type: 'request', id: 7, method: 'echo.wait', params: null }), 30_000);
    await expectBoundedThenFreed(200);
  });

  it('runs no more large synchronous handlers than the budget holds (bus.query with 64 KiB answers)', async () => {
    await startServer();
    const peer = await hostilePeer();
    flood(peer, (index) => ({ type: 'request', id: index + 1, method: 'bus.query', params: null }), 400);
    await expectBoundedThenFreed(BIG_REPLY.length + 64);
    // What the kernel's socket buffers took, plus the budget: far from 400.
    expect(served).toBeLessThan(40);
  });

  it('makes streaming handlers wait for a peer that does not read their deltas', async () => {
    await startServer();
    const peer = await hostilePeer();
    // 16 streams of 10,000 deltas of 1 KiB: 160 MiB if nothing waited.
    flood(peer, (index) => ({ type: 'request', id: index + 1, method: 'echo.stream', params: { count: 10_000 } }), 16);
    await vi.waitFor(() => expect(server.stats().inFlight).toBe(16));
    // Every stream is parked on its socket's drain: the count stops where the budget is.
    await vi.waitFor(() => expect(server.stats().queuedReplyBytes).toBeGreaterThan(0));
    expect(server.stats().queuedReplyBytes).toBeLessThanOrEqual(boundFor(16 * 1100));
    expect(streamed).toBeLessThan(2_000);
    for (const current of peers) current.destroy();
    await vi.waitFor(() => expect(server.stats()).toMatchObject({ connections: 0, queuedReplyBytes: 0, inFlight: 0 }));
  });

  it('counts every connection of an identity against one in-flight cap; other identities are served', async () => {
    await startServer({ maxInFlightPerIdentity: 100 });
    const connections = await Promise.all([1, 2, 3, 4].map(() => hostilePeer()));
    for (const peer of connections) {
      flood(peer, (index) => ({ type: 'request', id: index + 1, method: 'echo.wait', params: null }), 300);
    }
    await vi.waitFor(() => expect(server.stats().pausedConnections).toBe(4));
    expect(server.stats().inFlight).toBe(100);

    const other = await IpcClient.connect({ socketPath: socket.socketPath, agent: 'DevClaw', token: tokens.DevClaw });
    try {
      await expect(other.request('echo.say', { text: 'unaffected' })).resolves.toEqual({ text: 'unaffected' });
    } finally {
      await other.close();
    }
    for (const peer of connections) peer.destroy();
    await vi.waitFor(() => expect(server.stats()).toMatchObject({ connections: 0, inFlight: 0 }));
  });

  it('reads a cancel and a ping behind held requests at the in-flight cap (Q-041)', async () => {
    // Before: at the cap the socket stopped being read, so the cancel waited for a request to end.
    await startServer({ maxInFlightPerIdentity: 2 });
    const peer = await hostilePeer();
    peer.resume();
    const decoder = new FrameDecoder();
    const received: Frame[] = [];
    peer.on('data', (chunk: Buffer) => received.push(...decoder.push(chunk).frames));
    flood(peer, (index) => ({ type: 'request', id: index + 1, method: 'echo.wait', params: null }), 4);
    await vi.waitFor(() => expect(server.stats()).toMatchObject({ inFlight: 2, pausedConnections: 1, heldFrames: 2 }));
    // Request 1 is running, request 4 is held: both cancels and the ping are answered now.
    peer.write(
      Buffer.concat([
        encodeFrame({ type: 'cancel', id: 1 }),
        encodeFrame({ type: 'cancel', id: 4, reason: 'not needed' }),
        encodeFrame({ type: 'heartbeat', kind: 'ping', nonce: 77 }),
      ]),
    );
    await vi.waitFor(() => {
      const answered = received.filter((frame) => frame.type !== 'welcome');
      expect(answered).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ type: 'error', id: 1, error: expect.objectContaining({ code: 'CANCELLED' }) }),
          expect.objectContaining({ type: 'error', id: 4, error: expect.objectContaining({ code: 'CANCELLED' }) }),
          { type: 'heartbeat', kind: 'pong', nonce: 77 },
        ]),
      );
    });
    // Request 1's place went to request 3, in order; request 4 never ran.
    await vi.waitFor(() => expect(server.stats()).toMatchObject({ inFlight: 2, heldFrames: 0, pausedConnections: 0 }));
    peer.write(encodeFrame({ type: 'cancel', id: 3 }));
    await vi.waitFor(() => expect(server.stats().inFlight).toBe(1));
    // Each request was answered once (the held one at once, the running ones when their handlers ended).
    const cancelled = received.filter((frame) => frame.type === 'error').map((frame) => (frame as { id: number }).id);
    expect(cancelled.sort()).toEqual([1, 3, 4]);
  });

  it('reads ahead at most 64 KiB behind requests held at the in-flight cap, then stops reading', async () => {
    await startServer({ maxInFlightPerIdentity: 2 });
    const peer = await hostilePeer();
    const request = (index: number): Frame => ({ type: 'request', id: index + 1, method: 'echo.wait', params: null });
    const frameBytes = encodeFrame(request(10_000)).length;
    // About 1.2 MiB of requests: far more than the read-ahead and one read together.
    flood(peer, request, 20_000);
    await vi.waitFor(() => expect(server.stats().heldFrames * frameBytes).toBeGreaterThanOrEqual(64 * 1024));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const stats = server.stats();
    expect(stats).toMatchObject({ inFlight: 2, pausedConnections: 1 });
    // The read that filled the cap, the read-ahead (64 KiB) and the read that crossed it: 3 x 64 KiB.
    expect(stats.heldFrames * frameBytes).toBeLessThanOrEqual(3 * 64 * 1024);
  });

  it('resumes a paused peer from the frames it had already sent once it reads again', async () => {
    await startServer();
    const peer = await hostilePeer();
    const answered = new Set<number>();
    flood(peer, (index) => ({ type: 'request', id: index + 1, method: 'bus.query', params: null }), 200);
    await vi.waitFor(() => expect(server.stats().pausedConnections).toBe(1));
    const { FrameDecoder } = await import('@clawfleet/protocol');
    const decoder = new FrameDecoder();
    peer.on('data', (chunk: Buffer) => {
      for (const frame of decoder.push(chunk).frames) if (frame.type === 'response') answered.add(frame.id);
    });
    peer.resume();
    await vi.waitFor(() => expect(answered.size).toBe(200), { timeout: 10_000 });
    expect(served).toBe(200);
  });
});

describe('memory held for peers before their handshake', () => {
  /** Connects `count` peers and has each announce a frame of `announced` bytes and send `sent` of them. */
  async function announcers(count: number, announced: number, sent: number): Promise<{ codes: Promise<string[]> }> {
    const codes: Promise<string>[] = [];
    for (let index = 0; index < count; index++) {
      const peer = await openRaw(socket.socketPath);
      peer.on('error', () => {});
      peers.push(peer);
      const decoder = new FrameDecoder();
      codes.push(
        new Promise((resolve) => {
          peer.on('data', (chunk: Buffer) => {
            const frame = decoder.push(chunk).frames[0];
            if (frame?.type === 'error') resolve(frame.error.code);
          });
          peer.on('close', () => resolve('closed'));
        }),
      );
      const header = encodeRawFrame(Buffer.alloc(0), { length: announced });
      peer.write(Buffer.concat([header, Buffer.alloc(sent, 0x61)]));
    }
    return { codes: Promise.all(codes) };
  }

  it('refuses a frame larger than a hello before the handshake, so a nobody holds a few KiB at most', async () => {
    // Before the fix each of these peers could make the server buffer up to 16 MiB until the
    // handshake timeout (5 s): 1 GiB for 64 of them.
    await startServer({ maxPendingHandshakes: 64 });
    const { codes } = await announcers(8, 16 * 1024 * 1024, 1024 * 1024);
    // Either the peers are refused (fixed) or their bytes pile up in the server (the defect).
    await vi.waitFor(() => {
      const stats = server.stats();
      expect(stats.connections === 0 || stats.undecodedBytes >= 8 * 1024 * 1024).toBe(true);
    });
    expect(server.stats().undecodedBytes).toBe(0);
    expect(await codes).toEqual(Array(8).fill('FRAME_TOO_LARGE'));
  });

  it('holds at most maxHandshakeFrameBytes per connection for a hello that never completes', async () => {
    await startServer({ maxPendingHandshakes: 64 });
    const limit = 16 * 1024;
    await announcers(64, limit, limit - 1);
    await vi.waitFor(() => expect(server.stats().undecodedBytes).toBe(64 * (16 + limit - 1)));
    // The documented bound: 64 pending handshakes x (16 KiB + the 16-byte header), about 1 MiB.
    expect(server.stats().undecodedBytes).toBeLessThanOrEqual(64 * (limit + 16));
    for (const peer of peers) peer.destroy();
    await vi.waitFor(() => expect(server.stats()).toMatchObject({ connections: 0, undecodedBytes: 0 }));
  });

  it('takes a large request pipelined after hello in the same write, decoded with the full frame size', async () => {
    await startServer();
    const peer = await openRaw(socket.socketPath);
    peers.push(peer);
    const text = 'y'.repeat(1024 * 1024);
    const decoder = new FrameDecoder();
    const answer = new Promise<Frame>((resolve) => {
      peer.on('data', (chunk: Buffer) => {
        for (const frame of decoder.push(chunk).frames)
          if (frame.type === 'response' || frame.type === 'error') resolve(frame);
      });
    });
    peer.write(
      Buffer.concat([
        encodeFrame({ type: 'hello', agent: 'LeadClaw', token: tokens.LeadClaw, protocolVersion: 1, capabilities: [] }),
        encodeFrame({ type: 'request', id: 1, method: 'echo.say', params: { text } }),
      ]),
    );
    expect(await answer).toEqual({ type: 'response', id: 1, result: { text } });
  });
});
