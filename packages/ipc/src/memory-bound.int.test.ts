import { type ChildProcess, spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { encodeFrame, type Frame } from '@clawfleet/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { IpcClient } from './client/ipc-client.ts';
import { openRaw } from './testing/raw-peer.ts';
import { tempSocketPath } from './testing/temp-socket.ts';

/**
 * The server's resident memory, measured from outside its process, while peers that never read
 * flood it with every kind of cheap frame and with requests whose answers are 1 MiB each, and after
 * they leave. The bound is the one docs/protocol.md documents ("Memory bound"): per identity, the
 * 8 MiB reply budget plus one reply and one read's worth of frames, plus what the runtime itself
 * wobbles by. Before the bound was per identity and checked before every frame, the same flood
 * took a server from 136 MB to 481 MB (unknown methods) and from 484 MB to 939 MB (bus.query).
 */

const tokens = { LeadClaw: 'lead-secret', DevClaw: 'dev-secret', UXClaw: 'ux-secret', OpsClaw: 'ops-secret' };
const hostileAgents = ['LeadClaw', 'UXClaw', 'OpsClaw'] as const;
const MiB = 1024 * 1024;
const PER_IDENTITY_BOUND = 8 * MiB + 1 * MiB + 2 * MiB;
/** V8 and allocator noise: heap growth, JIT code, arenas that are not returned at once. */
const RUNTIME_SLACK = 64 * MiB;

interface ProbeStats {
  rss: number;
  answers: number;
  connections: number;
  pausedConnections: number;
  queuedReplyBytes: number;
  framesDecoded: number;
}

let socket: ReturnType<typeof tempSocketPath>;
let probe: ChildProcess;
let lines: Interface;
let peers: Socket[] = [];

async function stats(): Promise<ProbeStats> {
  const next = new Promise<string>((resolve) => lines.once('line', resolve));
  probe.stdin!.write('stats\n');
  return JSON.parse(await next) as ProbeStats;
}

beforeEach(async () => {
  socket = tempSocketPath();
  peers = [];
  probe = spawn(
    process.execPath,
    [
      '--expose-gc',
      '--import',
      'tsx',
      join(import.meta.dirname, 'testing/memory-probe-server.ts'),
      socket.socketPath,
      JSON.stringify(tokens),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  lines = createInterface({ input: probe.stdout! });
  await new Promise<void>((resolve) => lines.once('line', () => resolve()));
});

afterEach(async () => {
  for (const peer of peers) peer.destroy();
  probe.stdin!.end();
  await new Promise((resolve) => probe.once('exit', resolve));
  socket.cleanup();
});

async function hostilePeer(agent: keyof typeof tokens, frames: (index: number) => Frame, count: number): Promise<void> {
  const peer = await openRaw(socket.socketPath);
  peer.pause();
  peer.on('error', () => {});
  peers.push(peer);
  const chunks = [encodeFrame({ type: 'hello', agent, token: tokens[agent], protocolVersion: 1, capabilities: [] })];
  for (let index = 0; index < count; index++) chunks.push(encodeFrame(frames(index)));
  peer.write(Buffer.concat(chunks));
}

describe('server memory (RSS) under peers that never read', () => {
  it('stays within the documented bound per identity, and returns once they leave', async () => {
    // Warm up every path once, so what follows measures what is held, not code being compiled.
    const good = await IpcClient.connect({ socketPath: socket.socketPath, agent: 'DevClaw', token: tokens.DevClaw });
    for (let index = 0; index < 20; index++) await good.request('bus.query', null);
    await expect(good.request('no.such', null)).rejects.toMatchObject({ code: 'UNKNOWN_METHOD' });
    const baseline = (await stats()).rss;

    // Each hostile identity sends, on three connections: 20 MiB of unknown-method requests,
    // 10 MiB of pings, and 400 bus.query requests with 1 MiB answers (400 MiB if all were run).
    for (const agent of hostileAgents) {
      await hostilePeer(
        agent,
        (index) => ({ type: 'request', id: index + 1, method: 'no.such', params: null }),
        (20 * MiB) / 40,
      );
      await hostilePeer(agent, (index) => ({ type: 'heartbeat', kind: 'ping', nonce: index }), (10 * MiB) / 30);
      await hostilePeer(agent, (index) => ({ type: 'request', id: index + 1, method: 'bus.query', params: null }), 400);
    }
    const hostileConnections = hostileAgents.length * 3;
    await vi.waitFor(async () => expect((await stats()).pausedConnections).toBe(hostileConnections), {
      timeout: 60_000,
      interval: 200,
    });
    const during = await stats();
    const bound = hostileAgents.length * PER_IDENTITY_BOUND + RUNTIME_SLACK;
    console.log(
      `RSS baseline ${(baseline / MiB).toFixed(1)} MiB, with ${hostileConnections} never-reading peers ${(during.rss / MiB).toFixed(1)} MiB (bound +${(bound / MiB).toFixed(0)} MiB), bus.query answers built ${during.answers - 20}, queued ${(during.queuedReplyBytes / MiB).toFixed(1)} MiB`,
    );
    expect(during.rss - baseline).toBeLessThan(bound);
    expect(during.queuedReplyBytes).toBeLessThanOrEqual(hostileAgents.length * (8 * MiB + 1 * MiB));
    // The good agent is served meanwhile.
    await expect(good.request('echo.say', { text: 'still here' })).resolves.toBe('still here');

    for (const peer of peers) peer.destroy();
    await vi.waitFor(async () => expect((await stats()).connections).toBe(1), { timeout: 30_000, interval: 200 });
    const after = await stats();
    console.log(`RSS after they left ${(after.rss / MiB).toFixed(1)} MiB`);
    expect(after.queuedReplyBytes).toBe(0);
    // The allocator keeps some of what was freed; what matters is that it does not stay held.
    expect(after.rss).toBeLessThan(during.rss);
    expect(after.rss - baseline).toBeLessThan(RUNTIME_SLACK);
    await good.close();
  });
});
