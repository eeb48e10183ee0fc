export { openRaw, type RawExchange, rawExchange } from './raw-peer.ts';
export { tempSocketPath } from './temp-socket.ts';
