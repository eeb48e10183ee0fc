export { IpcClient, type IpcClientOptions, type RequestOptions } from './client/ipc-client.ts';
export {
  DEFAULT_MAX_HANDSHAKE_FRAME_BYTES,
  IpcServer,
  type IpcServerOptions,
  type IpcServerStats,
} from './server/ipc-server.ts';
export type { MethodHandler, PeerConnection, RequestContext } from './server/request-context.ts';
export { prepareSocketPath } from './server/socket-path.ts';
export { type BackoffOptions, backoffDelay } from './shared/backoff.ts';
export { type Authenticator, tokenAuthenticator } from './shared/token-authenticator.ts';
