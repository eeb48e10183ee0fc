import { connect, type Socket } from 'node:net';
import { type Frame, FrameDecoder } from '@clawfleet/protocol';

/** What a raw peer saw: the frames the server sent until it closed (or the wait ended). */
export interface RawExchange {
  frames: Frame[];
  closed: boolean;
}

/**
 * Opens a plain socket, writes `bytes` (in one or more chunks), and collects what the server
 * answers until it closes the connection or `waitMs` passes. For tests that must speak the
 * protocol wrongly on purpose.
 */
export async function rawExchange(socketPath: string, chunks: Buffer[], waitMs = 2000): Promise<RawExchange> {
  const socket = await openRaw(socketPath);
  const decoder = new FrameDecoder();
  const frames: Frame[] = [];
  return new Promise((resolve) => {
    const finish = (closed: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ frames, closed });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on('data', (chunk: Buffer) => {
      // The test inspects what decoded before any garbage.
      frames.push(...decoder.push(chunk).frames);
    });
    socket.on('close', () => finish(true));
    socket.on('error', () => {});
    for (const chunk of chunks) socket.write(chunk);
  });
}

export function openRaw(socketPath: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}
