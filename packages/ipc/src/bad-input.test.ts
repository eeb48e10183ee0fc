import { encodeFrame, encodeRawFrame, FRAME_HEADER_BYTES, type Frame, packValue } from '@clawfleet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { IpcClient } from './client/ipc-client.ts';
import { IpcServer } from './server/ipc-server.ts';
import { tokenAuthenticator } from './shared/token-authenticator.ts';
import { openRaw, rawExchange } from './testing/raw-peer.ts';
import { tempSocketPath } from './testing/temp-socket.ts';

const tokens = { LeadClaw: 'lead-secret', DevClaw: 'dev-secret' };
const hello = encodeFrame({
  type: 'hello',
  agent: 'LeadClaw',
  token: tokens.LeadClaw,
  protocolVersion: 1,
  capabilities: [],
});
const request = encodeFrame({ type: 'request', id: 1, method: 'echo.say', params: { text: 'x' } });

let socket: ReturnType<typeof tempSocketPath>;
let server: IpcServer;
let bystander: IpcClient;

beforeAll(async () => {
  socket = tempSocketPath();
  server = new IpcServer({
    socketPath: socket.socketPath,
    authenticate: tokenAuthenticator(tokens),
    maxFrameBytes: 1024 * 1024,
    handshakeTimeoutMs: 500,
  });
  server.handle('echo.say', { params: z.object({ text: z.string() }), handler: (params) => params.text });
  await server.listen();
  bystander = await IpcClient.connect({ socketPath: socket.socketPath, agent: 'DevClaw', token: tokens.DevClaw });
});

afterAll(async () => {
  await bystander.close();
  await server.close({ timeoutMs: 100 });
  socket.cleanup();
});

interface BadInputCase {
  name: string;
  chunks: Buffer[];
  /** The error code the server must answer with before closing; undefined where no answer is possible. */
  code: string | undefined;
  /** Frames the server sends before the error (a welcome after a good hello). */
  before?: Frame['type'][];
}

const cases: BadInputCase[] = [
  { name: 'garbage bytes', chunks: [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')], code: 'BAD_MAGIC' },
  {
    name: 'wrong magic',
    chunks: [encodeRawFrame(packValue({ type: 'hello' }), { magic: 0xdeadbeef })],
    code: 'BAD_MAGIC',
  },
  {
    name: 'wrong version in the header',
    chunks: [encodeRawFrame(packValue({}), { version: 9 })],
    code: 'PROTOCOL_VERSION_MISMATCH',
  },
  { name: 'unknown flags', chunks: [encodeRawFrame(packValue({}), { flags: 4 })], code: 'MALFORMED_FRAME' },
  {
    name: 'oversized length (refused from the header, nothing allocated)',
    chunks: [encodeRawFrame(Buffer.alloc(0), { length: 0xffff_fff0 })],
    code: 'FRAME_TOO_LARGE',
  },
  { name: 'invalid msgpack', chunks: [encodeRawFrame(Buffer.from([0xc1, 0xc1, 0xc1]))], code: 'MALFORMED_FRAME' },
  {
    name: 'two msgpack values in one payload',
    chunks: [encodeRawFrame(Buffer.concat([packValue(1), packValue(2)]))],
    code: 'MALFORMED_FRAME',
  },
  {
    name: 'valid msgpack that fails the schema',
    chunks: [hello, encodeRawFrame(packValue({ type: 'request', id: -4, method: 'echo.say', params: {} }))],
    code: 'INVALID_FRAME',
    before: ['welcome'],
  },
  {
    name: 'an unknown frame type',
    chunks: [encodeRawFrame(packValue({ type: 'teleport', id: 1 }))],
    code: 'UNKNOWN_FRAME_TYPE',
  },
  { name: 'a non-object payload', chunks: [encodeRawFrame(packValue('hello'))], code: 'UNKNOWN_FRAME_TYPE' },
  { name: 'a request before the handshake', chunks: [request], code: 'HANDSHAKE_REQUIRED' },
  {
    name: 'a wrong token',
    chunks: [encodeFrame({ type: 'hello', agent: 'LeadClaw', token: 'guess', protocolVersion: 1, capabilities: [] })],
    code: 'AUTH_FAILED',
  },
  { name: 'a second hello', chunks: [hello, hello], code: 'ALREADY_AUTHENTICATED', before: ['welcome'] },
  {
    name: 'a frame type only servers send',
    chunks: [hello, encodeFrame({ type: 'response', id: 1, result: null })],
    code: 'INVALID_FRAME',
    before: ['welcome'],
  },
  {
    name: 'a __proto__ key in the payload',
    chunks: [encodeRawFrame(Buffer.from('82a474797065a568656c6c6fa95f5f70726f746f5f5f81a161c3', 'hex'))],
    code: 'INVALID_FRAME',
  },
  { name: 'silence after connecting (no hello)', chunks: [], code: 'HANDSHAKE_TIMEOUT' },
];

describe('bad input', () => {
  it.each(cases)('$name: typed error, connection closed, everyone else unaffected', async (badCase) => {
    const exchange = await rawExchange(socket.socketPath, badCase.chunks, 3000);
    expect(exchange.closed).toBe(true);
    const types = exchange.frames.map((frame) => frame.type);
    expect(types).toEqual([...(badCase.before ?? []), 'error']);
    expect(exchange.frames.at(-1)).toMatchObject({ type: 'error', error: { code: badCase.code } });
    await expect(bystander.request('echo.say', { text: 'still fine' })).resolves.toBe('still fine');
  });

  it('a truncated frame followed by a hang-up: the server drops it and carries on', async () => {
    const raw = await openRaw(socket.socketPath);
    raw.end(hello.subarray(0, FRAME_HEADER_BYTES + 3));
    await new Promise((resolve) => raw.on('close', resolve));
    await expect(bystander.request('echo.say', { text: 'after truncation' })).resolves.toBe('after truncation');
  });

  it('an error frame names the request it answers when the payload got that far', async () => {
    const exchange = await rawExchange(socket.socketPath, [
      hello,
      encodeRawFrame(packValue({ type: 'request', id: 77, method: 'NOT VALID', params: {} })),
    ]);
    expect(exchange.frames.at(-1)).toMatchObject({ type: 'error', id: 77, error: { code: 'INVALID_FRAME' } });
  });
});
