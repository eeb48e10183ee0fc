/**
 * The server side of `npm run bench -- ipc`, run as its own process so that client and server do
 * not share an event loop. Modes: `claw` (our IPC server), `raw` (length-prefixed Buffers on a Unix
 * socket: the floor for Node), `http` (JSON over HTTP/1.1 keep-alive on a Unix socket).
 *
 * Every mode offers echo (send the payload back) and flood (send `count` messages of `size` bytes
 * one way, as fast as the socket takes them). HTTP also has `/sink` (a POST answered with 204):
 * JSON/HTTP as an IPC sends one request per message, which is what the benchmark compares with.
 */
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Socket } from 'node:net';
import { IpcServer, tokenAuthenticator } from '@clawfleet/ipc';
import { z } from 'zod';
import { onLengthPrefixedBodies } from './length-prefixed.ts';

const [mode, socketPath] = process.argv.slice(2);
if (!socketPath) throw new Error('usage: ipc-peer.ts <claw|raw|http> <socket path>');

if (mode === 'claw') {
  const server = new IpcServer({ socketPath, authenticate: tokenAuthenticator({ Bench: 'bench-token' }) });
  server.handle('bench.echo', { params: z.unknown(), handler: (params) => params });
  server.handle('bench.flood', {
    params: z.object({ count: z.number().int().positive(), size: z.number().int().positive() }),
    handler: async (params, context) => {
      const payload = 'x'.repeat(params.size);
      for (let index = 0; index < params.count; index++) await context.sendDelta(payload);
      return params.count;
    },
  });
  await server.listen();
} else if (mode === 'raw') {
  const server = createServer((socket) => serveRaw(socket));
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
} else if (mode === 'http') {
  const server = createHttpServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        payload?: string;
        count?: number;
        size?: number;
      };
      if (request.url === '/sink') {
        response.writeHead(204);
        response.end();
        return;
      }
      if (request.url === '/flood') {
        response.writeHead(200, { 'content-type': 'application/x-ndjson' });
        void floodHttp(response, body.count ?? 0, body.size ?? 0);
        return;
      }
      const text = JSON.stringify({ payload: body.payload });
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      response.end(text);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
} else {
  throw new Error(`unknown mode ${mode}`);
}
process.stdout.write('ready\n');
// Exit normally on a signal, so `--cpu-prof` can write its profile when the benchmark ends.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(0));

async function floodHttp(response: import('node:http').ServerResponse, count: number, size: number): Promise<void> {
  const line = `${JSON.stringify({ data: 'x'.repeat(size) })}\n`;
  for (let index = 0; index < count; index++) {
    if (!response.write(line)) await new Promise((resolve) => response.once('drain', resolve));
  }
  response.end();
}

/**
 * Raw protocol: u32 length + body. A body starting with 0x01 is an echo request; 0x02 carries
 * count and size (u32 each) and asks for a flood of length-prefixed bodies of that size.
 */
function serveRaw(socket: Socket): void {
  onLengthPrefixedBodies(socket, (body) => {
    if (body[0] === 2) {
      void floodRaw(socket, body.readUInt32BE(1), body.readUInt32BE(5));
      return;
    }
    const header = Buffer.allocUnsafe(4);
    header.writeUInt32BE(body.length);
    socket.cork();
    socket.write(header);
    socket.write(body);
    process.nextTick(() => socket.uncork());
  });
  socket.on('error', () => {});
}

async function floodRaw(socket: Socket, count: number, size: number): Promise<void> {
  const frame = Buffer.alloc(4 + size, 0x78);
  frame.writeUInt32BE(size);
  // The same coalescing as the Clawfleet writer (cork for the tick, and large frames written at
  // once), so the floor is Node's best and a fair one.
  const coalesce = frame.length < 16 * 1024;
  let corked = false;
  for (let index = 0; index < count; index++) {
    if (coalesce && !corked) {
      corked = true;
      socket.cork();
      process.nextTick(() => {
        corked = false;
        socket.uncork();
      });
    }
    if (!socket.write(frame)) await new Promise((resolve) => socket.once('drain', resolve));
  }
}
