export { IpcClient, type IpcClientOptions, type RequestOptions } from './client/ipc-client.ts';
export { IpcServer, type IpcServerOptions } from './server/ipc-server.ts';
export type { RequestContext } from './server/server-connection.ts';
export { ServerConnection } from './server/server-connection.ts';
export type { MethodHandler } from './server/server-internals.ts';
export { prepareSocketPath } from './server/socket-path.ts';
export { type BackoffOptions, backoffDelay } from './shared/backoff.ts';
export { type Authenticator, tokenAuthenticator } from './shared/token-authenticator.ts';
