export { AdminAuth, SESSION_COOKIE, sessionCookie } from './auth/admin-auth.ts';
export { EventLog } from './events/event-log.ts';
export { EventStream, type PhaseEvent, type RowChangeSource } from './events/event-stream.ts';
export type { HttpApiOptions, MetricsSource, ProvenanceLookup } from './server/http-api-options.ts';
export { HttpApiServer } from './server/http-api-server.ts';
