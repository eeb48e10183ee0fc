/**
 * The watchdog that ends an agent whose orchestrator is gone, over a real socket to a real server
 * process that the test SIGKILLs (no goodbye, as when the orchestrator dies).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IpcClient } from '@clawfleet/ipc';
import { afterEach, describe, expect, it } from 'vitest';
import { type ConnectionLoss, watchConnection } from './connection-watchdog.ts';

const HOST = fileURLToPath(new URL('../testing/ipc-host-main.ts', import.meta.url));
const TOKEN = 'watchdog-test-token';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startHost(socketPath: string, token = TOKEN): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', HOST], {
    env: { ...process.env, CLAW_SOCKET: socketPath, CLAW_TEST_TOKEN: token },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  // Killed whatever the test does (SIGKILL: no goodbye).
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`host exited early with ${code}`)));
  });
  return child;
}

async function kill(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

async function setUp(windowMs: number) {
  const directory = mkdtempSync(join(tmpdir(), 'claw-watchdog-'));
  cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
  const socketPath = join(directory, 'orchestrator.sock');
  const host = await startHost(socketPath);
  const client = await IpcClient.connect({
    socketPath,
    agent: 'DevClaw',
    token: TOKEN,
    backoff: { initialDelayMs: 20, maxDelayMs: 200, factor: 2 },
  });
  cleanups.push(() => client.close());
  const losses: ConnectionLoss[] = [];
  let onLoss: (loss: ConnectionLoss) => void = () => {};
  const lost = new Promise<ConnectionLoss>((resolve) => {
    onLoss = resolve;
  });
  const watchdog = watchConnection(client, {
    windowMs,
    onLost: (loss) => {
      losses.push(loss);
      onLoss(loss);
    },
  });
  cleanups.push(() => watchdog.dispose());
  return { socketPath, host, client, losses, lost };
}

describe('the connection watchdog (an agent whose orchestrator died)', () => {
  it('reports the orchestrator unreachable once the window passes after a SIGKILL', async () => {
    const { host, lost, losses } = await setUp(500);
    await kill(host);
    expect(await lost).toEqual({ kind: 'unreachable', windowMs: 500 });
    expect(losses).toHaveLength(1);
  });

  it('survives an orchestrator restart within the window: reconnects, reports nothing', async () => {
    const { socketPath, host, client, losses } = await setUp(60_000);
    await kill(host);
    const reconnected = new Promise<void>((resolve) => client.once('reconnected', resolve));
    await startHost(socketPath);
    await reconnected;
    expect(losses).toEqual([]);
    expect(client.connected).toBe(true);
  });

  it('reports a token refused at reconnect at once, without waiting for the window', async () => {
    const { socketPath, host, lost } = await setUp(600_000);
    await kill(host);
    await startHost(socketPath, 'another-token');
    const loss = await lost;
    expect(loss.kind).toBe('refused');
    expect(loss.kind === 'refused' && loss.error.code).toBe('AUTH_FAILED');
  });
});
