import type { Socket } from 'node:net';

/**
 * The raw baseline's framing: a u32 big-endian length, then the body. Calls `onBody` for each
 * complete body read from `socket`, in order. Bodies are views into the read buffer: copy one to
 * keep it past the call.
 */
export function onLengthPrefixedBodies(socket: Socket, onBody: (body: Buffer) => void): void {
  let buffered: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    let offset = 0;
    while (buffered.length - offset >= 4) {
      const length = buffered.readUInt32BE(offset);
      if (buffered.length - offset - 4 < length) break;
      onBody(buffered.subarray(offset + 4, offset + 4 + length));
      offset += 4 + length;
    }
    buffered = offset === buffered.length ? Buffer.alloc(0) : buffered.subarray(offset);
  });
}
