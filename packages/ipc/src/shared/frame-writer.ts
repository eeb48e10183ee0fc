import type { Socket } from 'node:net';
import { encodeFrame, type Frame } from '@clawfleet/protocol';

/** Frames of at least this size are written at once rather than coalesced. */
const LARGE_FRAME_BYTES = 16 * 1024;

/**
 * Writes frames to a socket, coalescing every frame written in one tick into a single writev:
 * the socket is corked on the first write of a tick and uncorked on the next tick. This keeps
 * small-frame throughput close to the raw socket without adding latency beyond the current tick.
 */
export class FrameWriter {
  readonly #socket: Socket;
  readonly #maxFrameBytes: number;
  #corked = false;
  readonly #uncork = (): void => {
    this.#corked = false;
    if (!this.#socket.destroyed) this.#socket.uncork();
  };

  constructor(socket: Socket, maxFrameBytes: number) {
    this.#socket = socket;
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** Encodes and queues a frame. Throws FRAME_TOO_LARGE before writing anything. */
  write(frame: Frame): void {
    const bytes = encodeFrame(frame, { maxFrameBytes: this.#maxFrameBytes });
    if (this.#socket.destroyed || !this.#socket.writable) return;
    // A large frame gains nothing from coalescing; written uncorked it goes to the kernel at once
    // instead of waiting a tick and then a `drain` event.
    if (!this.#corked && bytes.length >= LARGE_FRAME_BYTES) {
      this.#socket.write(bytes);
      return;
    }
    if (!this.#corked) {
      this.#corked = true;
      this.#socket.cork();
      process.nextTick(this.#uncork);
    }
    this.#socket.write(bytes);
  }

  /** Bytes written but not yet handed to the kernel. */
  get queuedBytes(): number {
    return this.#socket.writableLength;
  }

  /** Whether the socket's queue is above its high-water mark. */
  get needsDrain(): boolean {
    return this.#socket.writableNeedDrain && !this.#socket.destroyed;
  }

  /** Resolves once the socket's queue is below its high-water mark, or it closed. */
  async drained(signal?: AbortSignal): Promise<void> {
    const socket = this.#socket;
    if (!socket.writableNeedDrain || socket.destroyed) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        socket.off('drain', done);
        socket.off('close', done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      socket.once('drain', done);
      socket.once('close', done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}
