import type { ClawError } from '@clawfleet/protocol';

/**
 * A row as every bus client shows it, whichever host it talks to: identities as lowercase hex
 * strings, timestamps as microseconds since the epoch, 64-bit integers as numbers when within
 * +-2^53 and bigints beyond, absent optional values as `null`.
 */
export type BusRow = Record<string, unknown>;

/**
 * Row callbacks of one subscription. They fire only for rows the subscription selects, once per row
 * change, after the client cache reflects the change. The initial rows fire `onInsert`, then
 * `onApplied`. An update that moves a row out of the subscription's queries fires `onDelete`.
 */
export interface SubscriptionCallbacks {
  onInsert?: (row: BusRow, table: string) => void;
  onUpdate?: (oldRow: BusRow, newRow: BusRow, table: string) => void;
  onDelete?: (row: BusRow, table: string) => void;
  /** The initial rows are in the cache; later changes follow as callbacks. Fires again after a reconnect. */
  onApplied?: () => void;
  /** The subscription was refused or ended by the host; it is inactive afterwards. */
  onError?: (error: ClawError) => void;
}

export interface SubscribeOptions {
  /** Aborting it ends the subscription, as `dispose()` does. */
  signal?: AbortSignal;
}

/** A live subscription. Disposing it removes its rows from the cache (without firing callbacks). */
export interface BusSubscription extends AsyncDisposable {
  readonly queries: readonly string[];
  /** Resolves once the initial rows are applied; rejects with the host's ClawError (e.g. SUBSCRIPTION_INVALID). */
  readonly ready: Promise<void>;
  /** True from applied until disposed or failed. */
  readonly active: boolean;
  dispose(): Promise<void>;
}

export interface CallReducerOptions {
  signal?: AbortSignal;
}

/** Read access to the client cache by table name: `cache.task` is the same as `rows('task')`. */
export type BusCacheView = Readonly<Record<string, readonly BusRow[]>>;

/**
 * One client interface to the database, implemented over the embedded bus (IPC) and over
 * SpacetimeDB. Writes are reducer calls; reads come from the client cache, which holds exactly the
 * rows of the active subscriptions.
 */
export interface BusClient extends AsyncDisposable {
  /** The name this client authenticated as (embedded) or was given (SpacetimeDB). */
  readonly name: string;
  /** This client's database identity, lowercase hex. */
  readonly identity: string;
  /**
   * Runs a reducer as this client. Resolves after the transaction committed and its changes reached
   * this client's cache; rejects with ClawError REDUCER_REJECTED (with the reducer's message),
   * UNKNOWN_REDUCER, INVALID_PARAMS, CONNECTION_CLOSED, CANCELLED.
   */
  callReducer(reducer: string, args: Record<string, unknown>, options?: CallReducerOptions): Promise<void>;
  /** Subscribes to `SELECT * FROM table [WHERE column = literal [AND ...]]` queries. */
  subscribe(
    queries: string | readonly string[],
    callbacks?: SubscriptionCallbacks,
    options?: SubscribeOptions,
  ): BusSubscription;
  /** The cached rows of a table (a fresh array; rows are shared, do not mutate them). */
  rows(table: string): BusRow[];
  readonly cache: BusCacheView;
  /** Ends every subscription and closes the connection. */
  dispose(): Promise<void>;
}
