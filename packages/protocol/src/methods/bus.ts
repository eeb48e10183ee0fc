import { z } from 'zod';

export * from './bus-query.ts';

/**
 * The wire contract of the embedded bus: params and results of the `bus.*` IPC methods and the
 * payload of `bus.rows` events. The caller's identity is never a parameter: it is the name the
 * connection authenticated with.
 *
 * Row values cross msgpack as they are: strings, booleans, null, numbers, and bigints for 64-bit
 * integers beyond +-2^53. Identities are lowercase hex strings, timestamps microseconds since the epoch.
 */

/** Reducer and table names: what SpacetimeDB accepts as identifiers. */
export const busIdentifierSchema = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'a name is 1-128 letters, digits or `_`, not starting with a digit');

export const busRowSchema = z.record(z.string(), z.unknown());
export type BusRow = z.infer<typeof busRowSchema>;

export const busRowOperationSchema = z.enum(['insert', 'update', 'delete']);
export type BusRowOperation = z.infer<typeof busRowOperationSchema>;

/**
 * One row change: the one shape for every row representation (public rows on the wire and in clients,
 * runtime rows inside the embedded host). `oldRow` is present exactly when `op` is `update`.
 */
export interface RowChange<Row = BusRow> {
  table: string;
  op: BusRowOperation;
  row: Row;
  oldRow?: Row;
}

/** A row change as a subscriber sees it. */
export type BusRowChange = RowChange<BusRow>;

export const busRowChangeSchema: z.ZodType<BusRowChange> = z.strictObject({
  table: busIdentifierSchema,
  op: busRowOperationSchema,
  row: busRowSchema,
  oldRow: busRowSchema.optional(),
});

/** Subscription and one-off queries: `SELECT * FROM table [WHERE column = literal [AND ...]]`. */
export const busQuerySchema = z.string().min(1).max(4096);

export const BUS_METHODS = {
  call: 'bus.call',
  subscribe: 'bus.subscribe',
  unsubscribe: 'bus.unsubscribe',
  query: 'bus.query',
  identity: 'bus.identity',
} as const;

/** The event topic of row changes; the event's `subscriptionId` names the subscription. */
export const BUS_ROWS_TOPIC = 'bus.rows';

export const busCallParamsSchema = z.strictObject({
  reducer: busIdentifierSchema,
  args: z.record(z.string(), z.unknown()),
});
export type BusCallParams = z.infer<typeof busCallParamsSchema>;

/**
 * Sent after the transaction committed and after every `bus.rows` event it caused went out on this
 * connection, so a caller that awaits the call sees its own writes in its subscriptions.
 */
export const busCallResultSchema = z.strictObject({
  changeCount: z.number().int().min(0),
});
export type BusCallResult = z.infer<typeof busCallResultSchema>;

export const busSubscriptionIdSchema = z.number().int().min(1).max(0xffff_ffff);

/**
 * The subscriber chooses the id (unique among its live subscriptions on this connection), so that
 * `bus.rows` events committed after the snapshot but sent before the reply can already be told apart;
 * the client holds them until the reply's snapshot is applied.
 */
export const busSubscribeParamsSchema = z.strictObject({
  subscriptionId: busSubscriptionIdSchema,
  queries: z.array(busQuerySchema).min(1).max(64),
});
export type BusSubscribeParams = z.infer<typeof busSubscribeParamsSchema>;

export const busTableRowsSchema = z.strictObject({
  table: busIdentifierSchema,
  rows: z.array(busRowSchema),
});
export type BusTableRows = z.infer<typeof busTableRowsSchema>;

/**
 * The rows the subscription selects now (a row selected by several of its queries appears once);
 * later changes arrive as `bus.rows` events carrying the subscription's id.
 */
export const busSubscribeResultSchema = z.strictObject({
  tables: z.array(busTableRowsSchema),
});
export type BusSubscribeResult = z.infer<typeof busSubscribeResultSchema>;

export const busUnsubscribeParamsSchema = z.strictObject({
  subscriptionId: busSubscriptionIdSchema,
});
export type BusUnsubscribeParams = z.infer<typeof busUnsubscribeParamsSchema>;

export const busUnsubscribeResultSchema = z.strictObject({
  /** False when the subscription was already gone. */
  removed: z.boolean(),
});
export type BusUnsubscribeResult = z.infer<typeof busUnsubscribeResultSchema>;

export const busQueryParamsSchema = z.strictObject({
  query: busQuerySchema,
});
export type BusQueryParams = z.infer<typeof busQueryParamsSchema>;

export const busQueryResultSchema = busTableRowsSchema;
export type BusQueryResult = z.infer<typeof busQueryResultSchema>;

export const busIdentityParamsSchema = z.strictObject({});
export type BusIdentityParams = z.infer<typeof busIdentityParamsSchema>;

export const busIdentityResultSchema = z.strictObject({
  /** The name the connection authenticated with. */
  name: z.string(),
  /** The database identity of that name, lowercase hex. */
  identity: z.string().regex(/^[0-9a-f]+$/),
});
export type BusIdentityResult = z.infer<typeof busIdentityResultSchema>;

/** Payload of a `bus.rows` event: the changes of one transaction that this subscription can see. */
export const busRowsEventSchema = z.strictObject({
  changes: z.array(busRowChangeSchema).min(1),
});
export type BusRowsEvent = z.infer<typeof busRowsEventSchema>;
