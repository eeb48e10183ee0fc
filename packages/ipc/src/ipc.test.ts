import { statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { ClawError, encodeFrame, isClawError } from '@clawfleet/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { IpcClient } from './client/ipc-client.ts';
import { IpcServer, type IpcServerOptions } from './server/ipc-server.ts';
import { tokenAuthenticator } from './shared/token-authenticator.ts';
import { openRaw, rawExchange } from './testing/raw-peer.ts';
import { tempSocketPath } from './testing/temp-socket.ts';

const tokens = { LeadClaw: 'lead-secret', DevClaw: 'dev-secret' };
let socket: ReturnType<typeof tempSocketPath>;
let servers: IpcServer[] = [];
let clients: IpcClient[] = [];

function startServer(options: Partial<IpcServerOptions> = {}): IpcServer {
  const server = new IpcServer({ socketPath: socket.socketPath, authenticate: tokenAuthenticator(tokens), ...options });
  server.handle('echo.say', {
    params: z.object({ text: z.string() }),
    handler: (params, context) => ({ text: params.text, identity: context.identity }),
  });
  server.handle('echo.stream', {
    params: z.object({ count: z.number().int().min(0) }),
    handler: async (params, context) => {
      for (let index = 0; index < params.count; index++) await context.sendDelta({ index });
      return { total: params.count };
    },
  });
  server.handle('echo.wait', {
    params: z.object({}),
    handler: (_params, context) =>
      new Promise((_resolve, reject) => {
        context.signal.addEventListener('abort', () => reject(context.signal.reason), { once: true });
      }),
  });
  servers.push(server);
  return server;
}

async function connectClient(
  agent: keyof typeof tokens = 'LeadClaw',
  options: Partial<Parameters<typeof IpcClient.connect>[0]> = {},
) {
  const client = await IpcClient.connect({ socketPath: socket.socketPath, agent, token: tokens[agent], ...options });
  clients.push(client);
  return client;
}

function expectCode(code: string) {
  return expect.objectContaining({ code });
}

beforeEach(() => {
  socket = tempSocketPath();
  servers = [];
  clients = [];
});

afterEach(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await Promise.all(servers.map((server) => server.close({ timeoutMs: 100 })));
  socket.cleanup();
});

describe('handshake and identity', () => {
  it('answers requests with the identity fixed at the handshake', async () => {
    const server = startServer();
    await server.listen();
    const client = await connectClient('DevClaw');
    await expect(client.request('echo.say', { text: 'hi' })).resolves.toEqual({ text: 'hi', identity: 'DevClaw' });
  });

  it('refuses a wrong token, and an unknown agent, with AUTH_FAILED that is not retried', async () => {
    await startServer().listen();
    await expect(
      IpcClient.connect({
        socketPath: socket.socketPath,
        agent: 'LeadClaw',
        token: 'dev-secret',
        connectTimeoutMs: 2000,
      }),
    ).rejects.toEqual(expectCode('AUTH_FAILED'));
    await expect(
      IpcClient.connect({ socketPath: socket.socketPath, agent: 'Mallory', token: 'x', connectTimeoutMs: 2000 }),
    ).rejects.toEqual(expectCode('AUTH_FAILED'));
  });

  it('creates the socket file with mode 0600', async () => {
    await startServer().listen();
    expect(statSync(socket.socketPath).mode & 0o777).toBe(0o600);
  });

  it('replaces a stale socket file from a crashed run', async () => {
    const stale = createServer();
    await new Promise<void>((resolve) => stale.listen(socket.socketPath, resolve));
    // Simulate a crash: the file stays, nothing listens.
    (stale as unknown as { _handle: { close(): void } })._handle.close();
    await startServer().listen();
    const client = await connectClient();
    await expect(client.request('echo.say', { text: 'ok' })).resolves.toMatchObject({ text: 'ok' });
  });

  it('refuses a socket path a live server answers on, and a path that is not a socket', async () => {
    await startServer().listen();
    const second = new IpcServer({ socketPath: socket.socketPath, authenticate: () => true });
    await expect(second.listen()).rejects.toEqual(expectCode('SOCKET_IN_USE'));
    const filePath = `${socket.directory}/not-a-socket`;
    writeFileSync(filePath, 'precious data');
    const third = new IpcServer({ socketPath: filePath, authenticate: () => true });
    await expect(third.listen()).rejects.toEqual(expectCode('SOCKET_PATH_INVALID'));
  });

  it('rejects invalid options with the option named', () => {
    expect(() => new IpcServer({ socketPath: '', authenticate: () => true })).toThrow(/socketPath/);
    expect(() => new IpcServer({ socketPath: 'x', authenticate: () => true, maxInFlightPerIdentity: -1 })).toThrow(
      /maxInFlightPerIdentity/,
    );
  });
});

describe('requests', () => {
  it('streams deltas in order, then the final result', async () => {
    await startServer().listen();
    const client = await connectClient();
    const deltas: unknown[] = [];
    const result = await client.request('echo.stream', { count: 50 }, { onDelta: (data) => deltas.push(data) });
    expect(result).toEqual({ total: 50 });
    expect(deltas).toEqual(Array.from({ length: 50 }, (_, index) => ({ index })));
  });

  it('rejects invalid params and unknown methods with typed errors, and keeps serving', async () => {
    await startServer().listen();
    const client = await connectClient();
    await expect(client.request('echo.say', { text: 42 })).rejects.toEqual(expectCode('INVALID_PARAMS'));
    await expect(client.request('nothing.here', {})).rejects.toEqual(expectCode('UNKNOWN_METHOD'));
    await expect(client.request('echo.say', { text: 'still here' })).resolves.toMatchObject({ text: 'still here' });
  });

  it('turns a ClawError thrown by a handler into the same error on the client, with details', async () => {
    const server = startServer();
    server.handle('fail.now', {
      params: z.unknown(),
      handler: () => {
        throw new ClawError('NOT_FOUND', 'No task 7', { details: { taskId: 7 } });
      },
    });
    await server.listen();
    const client = await connectClient();
    const error = await client.request('fail.now', null).catch((caught: unknown) => caught);
    expect(isClawError(error, 'NOT_FOUND')).toBe(true);
    expect(error).toMatchObject({ message: 'No task 7', retryable: false, details: { taskId: 7 } });
  });

  it('cancels a running request on the server when the caller aborts', async () => {
    const server = startServer();
    let serverSawAbort: Promise<unknown> | undefined;
    server.handle('slow.op', {
      params: z.unknown(),
      handler: (_params, context) => {
        serverSawAbort = new Promise((resolve) =>
          context.signal.addEventListener('abort', () => resolve(context.signal.reason)),
        );
        return new Promise(() => {});
      },
    });
    await server.listen();
    const client = await connectClient();
    const controller = new AbortController();
    const pending = client.request('slow.op', null, { signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 30));
    controller.abort();
    await expect(pending).rejects.toEqual(expectCode('CANCELLED'));
    await expect(serverSawAbort).resolves.toEqual(expectCode('CANCELLED'));
  });

  it('times a request out on both sides', async () => {
    await startServer().listen();
    const client = await connectClient();
    await expect(client.request('echo.wait', {}, { timeoutMs: 50 })).rejects.toEqual(expectCode('TIMEOUT'));
    await expect(client.request('echo.say', { text: 'after' })).resolves.toMatchObject({ text: 'after' });
  });

  it('routes pushed events to every connection of the named agent only', async () => {
    const server = startServer();
    await server.listen();
    const leadA = await connectClient('LeadClaw');
    const leadB = await connectClient('LeadClaw');
    const dev = await connectClient('DevClaw');
    const seen: string[] = [];
    leadA.onEvent('task.assigned', (data) => seen.push(`leadA:${(data as { id: number }).id}`));
    leadB.onEvent('task.assigned', (data) => seen.push(`leadB:${(data as { id: number }).id}`));
    dev.onEvent('task.assigned', (data) => seen.push(`dev:${(data as { id: number }).id}`));
    expect(server.pushTo('LeadClaw', 'task.assigned', { id: 1 })).toBe(2);
    expect(server.pushTo('OpsClaw', 'task.assigned', { id: 2 })).toBe(0);
    await leadA.request('echo.say', { text: 'sync' });
    await leadB.request('echo.say', { text: 'sync' });
    await dev.request('echo.say', { text: 'sync' });
    expect(seen.sort()).toEqual(['leadA:1', 'leadB:1']);
  });
});

describe('connection loss and shutdown', () => {
  it('rejects pending requests with a retryable error when the server goes away, then reconnects', async () => {
    const first = startServer();
    await first.listen();
    const client = await connectClient('LeadClaw', { backoff: { initialDelayMs: 10, maxDelayMs: 50 } });
    const pendingError = client.request('echo.wait', {}, { timeoutMs: 10_000 }).catch((caught: unknown) => caught);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const reconnected = new Promise<void>((resolve) => client.once('reconnected', () => resolve()));
    await first.close({ timeoutMs: 10 });
    const error = await pendingError;
    expect(isClawError(error)).toBe(true);
    expect((error as ClawError).retryable).toBe(true);
    await startServer().listen();
    await reconnected;
    await expect(client.request('echo.say', { text: 'back' })).resolves.toEqual({ text: 'back', identity: 'LeadClaw' });
  });

  it('emits disconnect for every authenticated connection that ends, however it ends', async () => {
    const server = startServer();
    await server.listen();
    const disconnected: string[] = [];
    server.on('disconnect', (connection) => disconnected.push(connection.identity));
    const polite = await connectClient('LeadClaw', { reconnect: false });
    await polite.close(); // says goodbye first
    await vi.waitFor(() => expect(disconnected).toEqual(['LeadClaw']));
    const raw = await openRaw(socket.socketPath);
    raw.write(
      encodeFrame({ type: 'hello', agent: 'DevClaw', token: tokens.DevClaw, protocolVersion: 1, capabilities: [] }),
    );
    await vi.waitFor(() => expect(server.connections('DevClaw')).toHaveLength(1));
    raw.destroy(); // hangs up without a word
    await vi.waitFor(() => expect(disconnected).toEqual(['LeadClaw', 'DevClaw']));
    expect(server.connections()).toHaveLength(0);
  });

  it('drains in-flight requests before closing', async () => {
    const server = startServer();
    server.handle('slow.ok', {
      params: z.unknown(),
      handler: () => new Promise((resolve) => setTimeout(() => resolve('finished'), 100)),
    });
    await server.listen();
    const client = await connectClient('LeadClaw', { reconnect: false });
    const pending = client.request('slow.ok', null);
    await new Promise((resolve) => setTimeout(resolve, 10));
    await server.close({ timeoutMs: 2000 });
    await expect(pending).resolves.toBe('finished');
  });

  it('answers requests still running when the drain time ends with SHUTTING_DOWN, as documented', async () => {
    const server = startServer();
    await server.listen();
    const client = await connectClient('LeadClaw', { reconnect: false });
    const pending = client.request('echo.wait', {});
    await vi.waitFor(() => expect(server.stats().inFlight).toBe(1));
    const outcome = expect(pending).rejects.toMatchObject({ code: 'SHUTTING_DOWN', retryable: true });
    await server.close({ timeoutMs: 20 });
    await outcome;
  });

  it('refuses one connection more than an identity may hold, and keeps the others', async () => {
    const server = startServer({ maxConnectionsPerIdentity: 2 });
    await server.listen();
    const first = await connectClient('LeadClaw');
    await connectClient('LeadClaw');
    const third = await rawExchange(socket.socketPath, [
      encodeFrame({ type: 'hello', agent: 'LeadClaw', token: tokens.LeadClaw, protocolVersion: 1, capabilities: [] }),
    ]);
    expect(third.frames).toEqual([{ type: 'error', error: expect.objectContaining({ code: 'TOO_MANY_REQUESTS' }) }]);
    expect(third.closed).toBe(true);
    await expect(first.request('echo.say', { text: 'still here' })).resolves.toMatchObject({ text: 'still here' });
    await expect(connectClient('DevClaw')).resolves.toBeDefined();
  });

  it('closes a connection beyond the limit of connections still without a handshake', async () => {
    const server = startServer({ maxPendingHandshakes: 2, handshakeTimeoutMs: 60_000 });
    await server.listen();
    const silent = [await openRaw(socket.socketPath), await openRaw(socket.socketPath)];
    await vi.waitFor(() => expect(server.stats().connections).toBe(2));
    const third = await rawExchange(socket.socketPath, [], 5000);
    expect(third.closed).toBe(true);
    // One of the two says hello: it no longer counts, and another may connect.
    silent[0]!.write(
      encodeFrame({ type: 'hello', agent: 'DevClaw', token: tokens.DevClaw, protocolVersion: 1, capabilities: [] }),
    );
    await vi.waitFor(() => expect(server.connections('DevClaw')).toHaveLength(1));
    await expect(connectClient('LeadClaw')).resolves.toBeDefined();
    for (const peer of silent) peer.destroy();
  });

  it('gives handlers the connection to push to, not to close or fail', async () => {
    const server = startServer();
    server.handle('peek.connection', {
      params: z.unknown(),
      handler: (_params, context) => {
        // @ts-expect-error a handler cannot close its caller's connection
        void context.connection.goodbye;
        // @ts-expect-error nor fail it
        void context.connection.fail;
        return { id: context.connection.id, identity: context.connection.identity };
      },
    });
    await server.listen();
    const client = await connectClient('DevClaw');
    await expect(client.request('peek.connection', null)).resolves.toMatchObject({ identity: 'DevClaw' });
  });

  it('drops a peer that stops answering heartbeats', async () => {
    const server = startServer({ heartbeatIntervalMs: 20, heartbeatTimeoutMs: 100 });
    await server.listen();
    const raw = await openRaw(socket.socketPath);
    raw.write(
      encodeFrame({ type: 'hello', agent: 'LeadClaw', token: tokens.LeadClaw, protocolVersion: 1, capabilities: [] }),
    );
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(server.connections('LeadClaw')).toHaveLength(1);
    // The raw peer never answers pings.
    const closed = new Promise<void>((resolve) => raw.on('close', () => resolve()));
    raw.on('data', () => {});
    await closed;
    await vi.waitFor(() => expect(server.connections('LeadClaw')).toHaveLength(0));
  });

  it('stops reading from a peer that never reads its replies, so server memory stays bounded', async () => {
    const server = startServer({ maxQueuedBytesPerIdentity: 256 * 1024, maxInFlightPerIdentity: 64 });
    const big = 'x'.repeat(64 * 1024);
    let served = 0;
    server.handle('big.reply', {
      params: z.unknown(),
      handler: () => {
        served += 1;
        return big;
      },
    });
    await server.listen();
    const raw = await openRaw(socket.socketPath);
    raw.pause(); // never read
    raw.write(
      encodeFrame({ type: 'hello', agent: 'LeadClaw', token: tokens.LeadClaw, protocolVersion: 1, capabilities: [] }),
    );
    const request = (id: number) => encodeFrame({ type: 'request', id, method: 'big.reply', params: null });
    for (let id = 1; id <= 4000; id++) {
      if (!raw.write(request(id))) await new Promise((resolve) => setTimeout(resolve, 1));
      if (id % 500 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    // 4000 replies of 64 KiB would be 256 MiB; the server stopped long before.
    expect(served).toBeLessThan(400);
    const other = await connectClient('DevClaw');
    await expect(other.request('echo.say', { text: 'unaffected' })).resolves.toMatchObject({ text: 'unaffected' });
    raw.destroy();
  });
});

describe('raw protocol', () => {
  it('answers a request before the handshake with HANDSHAKE_REQUIRED and closes', async () => {
    await startServer().listen();
    const exchange = await rawExchange(socket.socketPath, [
      encodeFrame({ type: 'request', id: 1, method: 'echo.say', params: { text: 'x' } }),
    ]);
    expect(exchange.closed).toBe(true);
    expect(exchange.frames).toEqual([
      { type: 'error', error: expect.objectContaining({ code: 'HANDSHAKE_REQUIRED' }) },
    ]);
  });

  it('refuses a hello of another protocol version with PROTOCOL_VERSION_MISMATCH', async () => {
    await startServer().listen();
    const exchange = await rawExchange(socket.socketPath, [
      encodeFrame({ type: 'hello', agent: 'LeadClaw', token: tokens.LeadClaw, protocolVersion: 2, capabilities: [] }),
    ]);
    expect(exchange.frames[0]).toMatchObject({ type: 'error', error: { code: 'PROTOCOL_VERSION_MISMATCH' } });
    expect(exchange.closed).toBe(true);
  });

  it('is a connection that cannot change identity with a second hello', async () => {
    await startServer().listen();
    const exchange = await rawExchange(socket.socketPath, [
      encodeFrame({ type: 'hello', agent: 'DevClaw', token: tokens.DevClaw, protocolVersion: 1, capabilities: [] }),
      encodeFrame({ type: 'hello', agent: 'LeadClaw', token: tokens.LeadClaw, protocolVersion: 1, capabilities: [] }),
      encodeFrame({ type: 'request', id: 1, method: 'echo.say', params: { text: 'x' } }),
    ]);
    expect(exchange.frames.map((frame) => frame.type)).toEqual(['welcome', 'error']);
    expect(exchange.frames[1]).toMatchObject({ error: { code: 'ALREADY_AUTHENTICATED' } });
    expect(exchange.closed).toBe(true);
  });
});
