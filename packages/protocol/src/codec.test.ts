import { describe, expect, it } from 'vitest';
import {
  DEFAULT_MAX_FRAME_BYTES,
  encodeFrame,
  encodeRawFrame,
  FRAME_HEADER_BYTES,
  FrameDecoder,
  PROTOCOL_VERSION,
  packValue,
} from './codec.ts';
import { ClawError, isClawError } from './errors.ts';
import type { Frame } from './frames.ts';

const frames: Frame[] = [
  { type: 'hello', agent: 'LeadClaw', token: 't0k', protocolVersion: PROTOCOL_VERSION, capabilities: ['stream'] },
  {
    type: 'welcome',
    protocolVersion: PROTOCOL_VERSION,
    connectionId: 'c1',
    capabilities: [],
    heartbeatIntervalMs: 5000,
  },
  { type: 'request', id: 7, method: 'bus.call', params: { reducer: 'claim_task', args: { taskId: 2n ** 60n } } },
  { type: 'response', id: 7, result: { ok: true, bytes: Buffer.from([1, 2, 3]) } },
  { type: 'stream-delta', id: 9, data: 'tok' },
  { type: 'stream-end', id: 9, result: { tokensOut: 3 } },
  { type: 'cancel', id: 9 },
  { type: 'error', id: 4, error: { code: 'NOT_FOUND', message: 'no', retryable: false, details: { id: 4 } } },
  { type: 'heartbeat', kind: 'ping', nonce: 1 },
  { type: 'event', topic: 'bus.rows', subscriptionId: 3, data: [{ op: 'insert' }] },
  { type: 'goodbye', reason: 'restart', reconnect: true },
];

describe('frame codec', () => {
  it('round-trips every frame type, with 64-bit integers kept exact', () => {
    const decoder = new FrameDecoder();
    const { frames: decoded, error } = decoder.push(Buffer.concat(frames.map((frame) => encodeFrame(frame))));
    expect(error).toBeUndefined();
    expect(decoded).toEqual(frames);
    expect((decoded[2] as { params: { args: { taskId: unknown } } }).params.args.taskId).toBe(2n ** 60n);
  });

  it('reassembles frames split at every byte boundary', () => {
    const stream = Buffer.concat(frames.map((frame) => encodeFrame(frame)));
    for (let split = 1; split < stream.length; split++) {
      const decoder = new FrameDecoder();
      const first = decoder.push(stream.subarray(0, split));
      const second = decoder.push(stream.subarray(split));
      expect([...first.frames, ...second.frames]).toEqual(frames);
      expect(decoder.bufferedBytes).toBe(0);
    }
  });

  it('writes the header byte for byte: magic, version, flags, length', () => {
    const bytes = encodeFrame({ type: 'heartbeat', kind: 'pong', nonce: 2 });
    expect(bytes.subarray(0, 4).toString('ascii')).toBe('CLAW');
    expect(bytes.readUInt32BE(4)).toBe(PROTOCOL_VERSION);
    expect(bytes.readUInt32BE(8)).toBe(0);
    expect(bytes.readUInt32BE(12)).toBe(bytes.length - FRAME_HEADER_BYTES);
  });

  it('refuses an oversized frame from the header alone, before its payload arrives', () => {
    const decoder = new FrameDecoder({ maxFrameBytes: 1024 });
    const header = encodeRawFrame(Buffer.alloc(0), { length: 1025 });
    const result = decoder.push(header);
    expect(result.error).toMatchObject({ code: 'FRAME_TOO_LARGE', details: { size: 1025, max: 1024 } });
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('stops after maxFrames and decodes the rest under a raised limit, losing no byte', () => {
    const decoder = new FrameDecoder({ maxFrameBytes: 256 });
    const hello: Frame = { type: 'hello', agent: 'LeadClaw', token: 't', protocolVersion: 1, capabilities: [] };
    const big: Frame = { type: 'request', id: 1, method: 'echo.say', params: { text: 'z'.repeat(10_000) } };
    const bytes = Buffer.concat([encodeFrame(hello), encodeFrame(big)]);
    const first = decoder.push(bytes, 1);
    expect(first).toEqual({ frames: [hello] });
    expect(decoder.bufferedBytes).toBe(bytes.length - encodeFrame(hello).length);
    decoder.setMaxFrameBytes(16 * 1024);
    expect(decoder.push(Buffer.alloc(0))).toEqual({ frames: [big] });
    expect(decoder.bufferedBytes).toBe(0);
    // Under the small limit the same bytes fail at the second frame's header.
    expect(new FrameDecoder({ maxFrameBytes: 256 }).push(bytes).error?.code).toBe('FRAME_TOO_LARGE');
  });

  it('refuses to encode a frame over the maximum', () => {
    expect(() => encodeFrame({ type: 'stream-delta', id: 1, data: 'x'.repeat(2000) }, { maxFrameBytes: 1024 })).toThrow(
      expect.objectContaining({ code: 'FRAME_TOO_LARGE' }),
    );
  });

  it('returns the frames before garbage together with the error, then stays failed', () => {
    const decoder = new FrameDecoder();
    const good = encodeFrame(frames[8]!);
    const result = decoder.push(Buffer.concat([good, Buffer.from('not a frame at all!')]));
    expect(result.frames).toEqual([frames[8]]);
    expect(result.error).toMatchObject({ code: 'BAD_MAGIC' });
    expect(decoder.push(good).error).toMatchObject({ code: 'MALFORMED_FRAME' });
  });

  it('validates options with the option named', () => {
    expect(() => new FrameDecoder({ maxFrameBytes: 3 })).toThrow(/`maxFrameBytes`/);
    expect(new FrameDecoder().maxFrameBytes).toBe(DEFAULT_MAX_FRAME_BYTES);
  });

  it('turns 50,000 random and mutated inputs into frames or typed errors, never anything else', () => {
    let state = 12345;
    const random = (): number => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return state / 4294967296;
    };
    const corpus = frames.map((frame) => encodeFrame(frame));
    let decodedFrames = 0;
    let errors = 0;
    for (let round = 0; round < 50_000; round++) {
      const bytes = Buffer.from(corpus[round % corpus.length]!);
      const mutations = Math.floor(random() * 4);
      for (let index = 0; index < mutations; index++) {
        const at = FRAME_HEADER_BYTES + Math.floor(random() * (bytes.length - FRAME_HEADER_BYTES));
        bytes[at] = Math.floor(random() * 256);
      }
      const decoder = new FrameDecoder({ maxFrameBytes: 4096 });
      const input = random() < 0.1 ? packValue({ type: 'request', id: random() * 1e12 }) : bytes;
      const result = decoder.push(input);
      decodedFrames += result.frames.length;
      if (result.error) {
        expect(result.error).toBeInstanceOf(ClawError);
        errors += 1;
      }
    }
    expect(decodedFrames).toBeGreaterThan(0);
    expect(errors).toBeGreaterThan(0);
  });
});

describe('ClawError', () => {
  it('crosses the wire as JSON and comes back with code, retryable flag and details', () => {
    const original = new ClawError('INSUFFICIENT_MEMORY', 'need 2 GiB', { details: { needBytes: 2 ** 31 } });
    const rebuilt = ClawError.fromJSON(JSON.parse(JSON.stringify(original)));
    expect(isClawError(rebuilt, 'INSUFFICIENT_MEMORY')).toBe(true);
    expect(rebuilt).toMatchObject({ message: 'need 2 GiB', retryable: true, details: { needBytes: 2 ** 31 } });
  });

  it('maps an unknown code from a newer peer to INTERNAL and keeps the original', () => {
    const rebuilt = ClawError.fromJSON({ code: 'FROM_THE_FUTURE', message: 'x', retryable: true });
    expect(rebuilt).toMatchObject({ code: 'INTERNAL', retryable: true, details: { originalCode: 'FROM_THE_FUTURE' } });
  });
});
