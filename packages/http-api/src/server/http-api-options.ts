import type { FleetConnection } from '@clawfleet/fleet-views';
import type { Logger } from '@clawfleet/protocol';
import type { AuthLimit } from '../auth/admin-auth.ts';
import type { RowChangeSource } from '../events/event-stream.ts';

/** The Prometheus exposition the server hands out at `GET /metrics`. */
export interface MetricsSource {
  contentType: string;
  scrape(): Promise<string>;
}

/**
 * The provenance of one memory entry (the tree back to cycles, stimuli, tool calls and inference
 * records), as `claw why` shows it; supplied by the orchestrator. NOT_FOUND for an unknown entry.
 */
export type ProvenanceLookup = (memoryId: number, fleet: FleetConnection) => Promise<unknown>;

export interface HttpApiOptions {
  /** Address to bind. @default '127.0.0.1' */
  host?: string;
  /** Port to bind; 0 picks a free one (see `address` after `listen`). */
  port: number;
  /** The admin token every route needs (the CLI's token). */
  adminToken: string;
  /** What the routes read and write, as the person's identity (the same queries and reducers as the CLI). */
  fleet: FleetConnection;
  /** Committed bus row changes, for `GET /events`. */
  rowChanges: RowChangeSource;
  metrics: MetricsSource;
  provenance?: ProvenanceLookup;
  /** A folder of static files served at `/` (the dashboard). @default none: `/` says where the API is */
  staticDirectory?: string;
  /** Brute-force limit of wrong tokens per client address. */
  authLimit?: Partial<AuthLimit>;
  events?: {
    /** @default 10_000 */
    resumeCapacity?: number;
    /** @default 1 MiB */
    clientBufferBytes?: number;
    /** @default 15_000 */
    heartbeatMs?: number;
    /** @default the start time in microseconds (ids grow across restarts) */
    firstEventId?: number;
  };
  /** Told when an event-stream client is dropped for not reading. */
  onEventClientDropped?: () => void;
  logger: Logger;
}
