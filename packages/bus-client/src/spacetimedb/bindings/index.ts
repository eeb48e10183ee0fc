// SpacetimeDB CLIENT BINDINGS FOR THE CLAWFLEET MODULE (db-module/).
//
// These stand in for what `spacetime generate` writes into `module_bindings/`, in the same shape
// (a REMOTE_MODULE, a typed DbConnection and its builders), and are kept apart from hand-written code
// like generated code. Instead of copying each table and reducer signature, they are BUILT FROM the
// module's own definitions (`tables`, `reducerCatalog`, `viewCatalog` of @clawfleet/db-module), so
// they cannot drift from what the module registers; bindings.test.ts checks the correspondence.
//
// To use real generated bindings instead (needs the `spacetime` CLI, 2.x):
//   npm run db:build        (writes db-module/dist/bundle/clawfleet-module.js)
//   spacetime generate --lang typescript --out-dir packages/bus-client/src/spacetimedb/bindings \
//     --js-path db-module/dist/bundle/clawfleet-module.js
// and keep this file's exports (`REMOTE_MODULE`, `DbConnection`, `ClawfleetModule`) in the generated index.ts.
import { reducerCatalog, tables, viewCatalog } from '@clawfleet/db-module';
import {
  DbConnectionBuilder as __DbConnectionBuilder,
  type DbConnectionConfig as __DbConnectionConfig,
  DbConnectionImpl as __DbConnectionImpl,
  type ProductType as __ProductType,
  type RemoteModule as __RemoteModule,
  reducerSchema as __reducerSchema,
  reducers as __reducers,
  schema as __schema,
  table as __table,
} from 'spacetimedb';

/**
 * The SDK refuses bindings older than CLI 1.4.0 (`ensureMinimumVersionOrThrow`); these follow the
 * 2.x generated layout, so they claim the version of the SDK they are written against.
 */
export const BINDINGS_CLI_VERSION = '2.0.0';

type TableRecord = Record<string, { rowType: unknown }>;

/**
 * Every table, plus each view under its own name with the row type of the table behind it. Private
 * tables are listed too: the server refuses subscriptions to them, so their caches stay empty.
 */
function clientTables(): TableRecord {
  const record: TableRecord = { ...(tables as unknown as TableRecord) };
  for (const [view, source] of Object.entries(viewCatalog)) {
    const definition = (tables as unknown as TableRecord)[source];
    if (!definition) continue;
    record[view] = __table({ name: view, public: true }, definition.rowType as never) as never;
  }
  return record;
}

/** Reducers clients may call: lifecycle and scheduled reducers are the database's own. */
function clientReducers() {
  return Object.entries(reducerCatalog)
    .filter(([, definition]) => definition.kind === 'client')
    .map(([name, definition]) => __reducerSchema(name, definition.params as never));
}

const tablesSchema = __schema(clientTables() as never);
const reducersSchema = __reducers(clientReducers() as never);

/**
 * The SDK's module type, untyped per table: the tables are known when the bindings are built from
 * db-module, not to the compiler. Every SDK call the client makes is still checked against the SDK's
 * own declarations (`DbConnectionImpl`, its builders and subscription handles), so an SDK change that
 * breaks the client is a compile error.
 */
// biome-ignore lint/suspicious/noExplicitAny: the SDK's own constraint types are not exported; see above.
export type ClawfleetModule = __RemoteModule<any, any, any>;

/** What the client and the test server read of a table and a reducer of the remote module. */
export interface RemoteTable {
  sourceName: string;
  accessorName: string;
  rowType: __ProductType;
}
export interface RemoteReducer {
  name: string;
  paramsType: __ProductType;
}

/** The remote module, as `spacetime generate` would describe it. */
export const REMOTE_MODULE = {
  versionInfo: { cliVersion: BINDINGS_CLI_VERSION },
  tables: (tablesSchema as unknown as { schemaType: { tables: Record<string, RemoteTable> } }).schemaType.tables,
  reducers: (reducersSchema as unknown as { reducersType: { reducers: RemoteReducer[] } }).reducersType.reducers,
  procedures: [],
};

export class DbConnectionBuilder extends __DbConnectionBuilder<DbConnection> {}

export class DbConnection extends __DbConnectionImpl<ClawfleetModule> {
  static builder = (): DbConnectionBuilder =>
    new DbConnectionBuilder(
      REMOTE_MODULE as never,
      (config: __DbConnectionConfig<ClawfleetModule>) => new DbConnection(config),
    );
}
