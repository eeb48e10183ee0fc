import { Packr, RESERVE_START_SPACE } from 'msgpackr';
import { ClawError, type JsonValue } from './errors.ts';
import { FRAME_TYPES, type Frame, frameSchema, requestIdSchema } from './frames.ts';

/** `CLAW` in ASCII. The magic and the version field keep their place in every protocol version. */
export const FRAME_MAGIC = 0x434c4157;
export const PROTOCOL_VERSION = 1;
/** magic u32 | version u32 | flags u32 | payload length u32, all big-endian. */
export const FRAME_HEADER_BYTES = 16;
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;
/** No flag is defined in version 1; a frame with any flag set is rejected. */
export const KNOWN_FLAGS_MASK = 0;

/**
 * One Packr for the process. Records and structured clones are off so that the payload is plain
 * msgpack any implementation can read, and so that an untrusted peer cannot define structures.
 */
// `auto`: 64-bit integers within +-2^53 decode as numbers, larger ones as bigints, so no value loses precision.
const packr = new Packr({
  useRecords: false,
  structuredClone: false,
  moreTypes: false,
  int64AsType: 'auto' as 'bigint',
});

export interface CodecOptions {
  /**
   * Largest payload accepted or produced, in bytes. Checked from the header before any allocation.
   * @default 16 MiB
   */
  maxFrameBytes?: number;
}

function checkMaxFrameBytes(value: number | undefined): number {
  const max = value ?? DEFAULT_MAX_FRAME_BYTES;
  if (!Number.isInteger(max) || max < 64 || max > 0xffff_ffff) {
    throw new ClawError(
      'CONFIG_INVALID',
      `Expected \`maxFrameBytes\` to be an integer 64-4294967295, got \`${String(max)}\` (${typeof max})`,
    );
  }
  return max;
}

/**
 * Encodes one frame (header + msgpack payload) into one buffer, without copying the payload:
 * msgpackr reserves the header's 16 bytes in front of what it writes. The buffer is a view of
 * msgpackr's arena, which it never writes to again, so it may be queued on a socket as it is.
 */
export function encodeFrame(frame: Frame, options: CodecOptions = {}): Buffer {
  const maxFrameBytes = checkMaxFrameBytes(options.maxFrameBytes);
  const bytes = packr.pack(frame, RESERVE_START_SPACE | FRAME_HEADER_BYTES);
  const payloadLength = bytes.length - FRAME_HEADER_BYTES;
  if (payloadLength > maxFrameBytes) {
    throw new ClawError('FRAME_TOO_LARGE', `Frame of ${payloadLength} bytes exceeds the maximum of ${maxFrameBytes}`, {
      details: { size: payloadLength, max: maxFrameBytes, type: frame.type },
    });
  }
  writeHeader(bytes, payloadLength);
  return bytes;
}

/** Encodes raw bytes as a frame payload without validation. For tests and fuzzing only. */
export function encodeRawFrame(
  payload: Uint8Array,
  header: { magic?: number; version?: number; flags?: number; length?: number } = {},
): Buffer {
  const buffer = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  buffer.writeUInt32BE(header.magic ?? FRAME_MAGIC, 0);
  buffer.writeUInt32BE(header.version ?? PROTOCOL_VERSION, 4);
  buffer.writeUInt32BE(header.flags ?? 0, 8);
  buffer.writeUInt32BE(header.length ?? payload.length, 12);
  buffer.set(payload, FRAME_HEADER_BYTES);
  return buffer;
}

/** Msgpack-encodes any value, for tests that build frames the schema would refuse. */
export function packValue(value: unknown): Buffer {
  return packr.pack(value);
}

function writeHeader(buffer: Buffer, payloadLength: number): void {
  buffer.writeUInt32BE(FRAME_MAGIC, 0);
  buffer.writeUInt32BE(PROTOCOL_VERSION, 4);
  buffer.writeUInt32BE(0, 8);
  buffer.writeUInt32BE(payloadLength, 12);
}

/** Frames completed by one `push`, and the error that ended the stream, if one did. */
export interface DecodeResult {
  frames: Frame[];
  error?: ClawError;
}

/**
 * Decodes frames from a byte stream. A decoding error is fatal for the stream: the caller handles
 * the frames before it, answers with an error frame and closes the connection. Errors carry the id
 * of the request they concern (`details.requestId`) when the payload decoded far enough to tell.
 */
export class FrameDecoder {
  #maxFrameBytes: number;
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Bytes the frame at the head of the buffer needs in all; 0 until its header has arrived. */
  #needed = 0;
  #failed = false;

  constructor(options: CodecOptions = {}) {
    this.#maxFrameBytes = checkMaxFrameBytes(options.maxFrameBytes);
  }

  /** Largest payload accepted; checked from each header as it arrives. */
  get maxFrameBytes(): number {
    return this.#maxFrameBytes;
  }

  /**
   * Changes the limit for the frames whose header has not been read yet; bytes already buffered
   * are kept. The server decodes with a small limit until the handshake, then raises it.
   */
  setMaxFrameBytes(maxFrameBytes: number): void {
    this.#maxFrameBytes = checkMaxFrameBytes(maxFrameBytes);
  }

  /** Bytes received but not yet decoded into a frame. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /**
   * Feeds bytes and returns the frames they complete, in order. When the bytes hold garbage, the
   * frames decoded before it are returned together with the error; the error is fatal for the
   * stream (it cannot be resynchronised) and every later call fails.
   *
   * Chunks are consumed where they lie: a frame inside one chunk is decoded from a view of it, a
   * frame spread over several is copied once into a buffer of its exact size, and what follows a
   * frame stays a view. A large frame that arrives in many reads is assembled once it is whole.
   *
   * With `maxFrames`, decoding stops after that many frames and the rest stays buffered, its
   * headers unread; an empty `chunk` then decodes what is buffered (under the limit of that time).
   */
  push(chunk: Buffer, maxFrames = Number.POSITIVE_INFINITY): DecodeResult {
    if (this.#failed) {
      return {
        frames: [],
        error: new ClawError('MALFORMED_FRAME', 'The decoder already failed; the stream is out of sync'),
      };
    }
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
    }
    const frames: Frame[] = [];
    try {
      while (this.#buffered >= Math.max(FRAME_HEADER_BYTES, this.#needed) && frames.length < maxFrames) {
        if (this.#needed === 0) {
          if (this.#chunks[0]!.length < FRAME_HEADER_BYTES) this.#merge(FRAME_HEADER_BYTES);
          this.#needed = FRAME_HEADER_BYTES + this.#readHeader(this.#chunks[0]!, 0);
          if (this.#buffered < this.#needed) break;
        }
        const bytes = this.#take(this.#needed);
        this.#needed = 0;
        frames.push(decodePayload(bytes.subarray(FRAME_HEADER_BYTES)));
      }
    } catch (error) {
      this.#failed = true;
      this.#chunks = [];
      this.#buffered = 0;
      this.#needed = 0;
      return { frames, error: ClawError.from(error, 'MALFORMED_FRAME') };
    }
    return { frames };
  }

  /** Removes and returns the first `length` buffered bytes, copying only when they span chunks. */
  #take(length: number): Buffer {
    const head = this.#chunks[0]!;
    let bytes: Buffer;
    if (head.length >= length) {
      bytes = head.subarray(0, length);
      if (head.length === length) this.#chunks.shift();
      else this.#chunks[0] = this.#releasable(head.subarray(length), head);
    } else {
      bytes = Buffer.allocUnsafe(length);
      let filled = 0;
      while (filled < length) {
        const next = this.#chunks[0]!;
        const used = Math.min(next.length, length - filled);
        next.copy(bytes, filled, 0, used);
        filled += used;
        if (used === next.length) this.#chunks.shift();
        else this.#chunks[0] = this.#releasable(next.subarray(used), next);
      }
    }
    this.#buffered -= length;
    return bytes;
  }

  /** Joins the first chunks until the head holds at least `length` bytes (only for split headers). */
  #merge(length: number): void {
    let joined = 0;
    let count = 0;
    while (joined < length) joined += this.#chunks[count++]!.length;
    this.#chunks.splice(0, count, Buffer.concat(this.#chunks.slice(0, count), joined));
  }

  /**
   * A small remainder of a large chunk is copied, so the chunk can be collected while the
   * remainder waits for the rest of its frame; a large remainder stays a view.
   */
  #releasable(remainder: Buffer, chunk: Buffer): Buffer {
    return remainder.length * 4 < chunk.length ? Buffer.from(remainder) : remainder;
  }

  #readHeader(buffer: Buffer, offset: number): number {
    const magic = buffer.readUInt32BE(offset);
    if (magic !== FRAME_MAGIC) {
      throw new ClawError(
        'BAD_MAGIC',
        `Expected frame magic 0x434c4157 ("CLAW"), got 0x${magic.toString(16).padStart(8, '0')}`,
      );
    }
    const version = buffer.readUInt32BE(offset + 4);
    if (version !== PROTOCOL_VERSION) {
      throw new ClawError(
        'PROTOCOL_VERSION_MISMATCH',
        `Peer speaks protocol version ${version}; this side speaks ${PROTOCOL_VERSION}`,
        { details: { expected: PROTOCOL_VERSION, received: version } },
      );
    }
    const flags = buffer.readUInt32BE(offset + 8);
    if ((flags & ~KNOWN_FLAGS_MASK) !== 0) {
      throw new ClawError('MALFORMED_FRAME', `Unknown frame flags 0x${flags.toString(16)}`, { details: { flags } });
    }
    const length = buffer.readUInt32BE(offset + 12);
    if (length > this.#maxFrameBytes) {
      throw new ClawError('FRAME_TOO_LARGE', `Frame announces ${length} bytes; the maximum is ${this.#maxFrameBytes}`, {
        details: { size: length, max: this.#maxFrameBytes },
      });
    }
    return length;
  }
}

/** Decodes and validates one payload. */
export function decodePayload(payload: Buffer): Frame {
  let value: unknown;
  try {
    const values = packr.unpackMultiple(payload) as unknown[] | undefined;
    if (values?.length !== 1) {
      throw new Error(`expected exactly one msgpack value, found ${values?.length ?? 0}`);
    }
    value = values[0];
  } catch (error) {
    throw new ClawError('MALFORMED_FRAME', `Payload is not valid msgpack: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return parseFrame(value);
}

/** Validates a decoded value as a frame. */
export function parseFrame(value: unknown): Frame {
  const parsed = frameSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const record = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  const type = record?.type;
  const id = requestIdSchema.safeParse(record?.id);
  const requestId = id.success ? id.data : undefined;
  const details: Record<string, JsonValue> = requestId === undefined ? {} : { requestId };
  if (typeof type !== 'string' || !(FRAME_TYPES as readonly string[]).includes(type)) {
    throw new ClawError(
      'UNKNOWN_FRAME_TYPE',
      `Unknown frame type ${typeof type === 'string' ? `\`${type.slice(0, 40)}\`` : `(${typeof type})`}`,
      { details },
    );
  }
  const issue = parsed.error.issues[0];
  const where = issue && issue.path.length > 0 ? issue.path.join('.') : 'frame';
  throw new ClawError('INVALID_FRAME', `Invalid \`${type}\` frame: ${where}: ${issue?.message ?? 'invalid'}`, {
    details: { ...details, frameType: type, path: where },
  });
}
