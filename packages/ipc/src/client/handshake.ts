import { connect as netConnect, type Socket } from 'node:net';
import { ClawError, type Frame, FrameDecoder, PROTOCOL_VERSION, type WelcomeFrame } from '@clawfleet/protocol';
import { FrameWriter } from '../shared/frame-writer.ts';

export interface HandshakeOptions {
  socketPath: string;
  agent: string;
  token: string;
  capabilities: string[];
  maxFrameBytes: number;
  /** The whole attempt: connect, hello, welcome. */
  timeoutMs: number;
}

/** A connection that completed its handshake, with what arrived after the welcome. */
export interface HandshakenSocket {
  socket: Socket;
  decoder: FrameDecoder;
  writer: FrameWriter;
  welcome: WelcomeFrame;
  /** Frames that arrived in the same read as the welcome. */
  early: Frame[];
  /** A decode error that followed them, if any: the connection is then unusable. */
  error: ClawError | undefined;
}

/**
 * Opens one connection and says hello. Resolves on `welcome`; rejects with the server's error
 * (AUTH_FAILED, PROTOCOL_VERSION_MISMATCH, ...), or CONNECT_FAILED when the socket fails, closes or
 * takes longer than `timeoutMs`. On success the socket has no listeners left: the caller attaches its own.
 */
export function handshake(options: HandshakeOptions): Promise<HandshakenSocket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(options.socketPath);
    const decoder = new FrameDecoder({ maxFrameBytes: options.maxFrameBytes });
    const writer = new FrameWriter(socket, options.maxFrameBytes);
    let settled = false;
    const fail = (error: ClawError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    const timer = setTimeout(
      () => fail(new ClawError('CONNECT_FAILED', `Handshake took over ${options.timeoutMs} ms`)),
      options.timeoutMs,
    );
    socket.once('error', (error: NodeJS.ErrnoException) => {
      fail(new ClawError('CONNECT_FAILED', `${error.code ?? 'error'}: ${error.message}`, { cause: error }));
    });
    socket.once('close', () =>
      fail(new ClawError('CONNECT_FAILED', 'Server closed the connection during the handshake')),
    );
    socket.once('connect', () => {
      writer.write({
        type: 'hello',
        agent: options.agent,
        token: options.token,
        protocolVersion: PROTOCOL_VERSION,
        capabilities: options.capabilities,
      });
    });
    const onData = (chunk: Buffer): void => {
      const { frames, error } = decoder.push(chunk);
      const [first, ...early] = frames;
      if (!first) {
        if (error) fail(error);
        return;
      }
      if (first.type === 'error') {
        fail(ClawError.fromJSON(first.error));
        return;
      }
      if (first.type !== 'welcome') {
        fail(new ClawError('HANDSHAKE_REQUIRED', `Expected \`welcome\`, got \`${first.type}\``));
        return;
      }
      settled = true;
      clearTimeout(timer);
      socket.removeAllListeners('error');
      socket.removeAllListeners('close');
      socket.off('data', onData);
      resolve({ socket, decoder, writer, welcome: first, early, error });
    };
    socket.on('data', onData);
  });
}
