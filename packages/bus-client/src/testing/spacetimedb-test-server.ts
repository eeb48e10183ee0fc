/**
 * A TEST DOUBLE of a SpacetimeDB server, for the SpacetimeDB client's tests only: it speaks
 * SpacetimeDB's client WebSocket protocol (`v2.bsatn.spacetimedb`, the SDK's own message codecs, see
 * spacetimedb-client-api.ts) and the HTTP routes the SDK and `db:publish` touch, with the embedded host
 * (EmbeddedDatabase, SubscriptionRegistry) behind it. It is never a way to run Clawfleet.
 *
 * What it does as SpacetimeDB does (from the SDK and the server sources): tokens and identities,
 * `InitialConnection`, subscriptions per query set with their snapshot, `TransactionUpdate` to every
 * other subscriber, the caller's own changes inside its `ReducerResult`, `SenderError` messages as
 * `Err`, lifecycle reducers on connect and disconnect, rows as BSATN row lists.
 *
 * Where it GUESSES at server behaviour (open-questions.md Q-050), marked `GUESS:` below: the text of
 * errors (it sends the embedded host's messages), an unknown reducer answered as `InternalError`, a
 * reducer failure other than a SenderError answered as `InternalError`, the row order within a table
 * update, and the HTTP status codes of refused requests.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { EmbeddedDatabase, identityForName, SubscriptionRegistry } from '@clawfleet/embedded-bus';
import {
  type BusRowChange,
  ClawError,
  type Logger,
  type ParsedBusQuery,
  parseBusQuery,
  silentLogger,
} from '@clawfleet/protocol';
import { BinaryReader, BinaryWriter, ConnectionId, Identity, ProductType, Timestamp } from 'spacetimedb';
import { type WebSocket, WebSocketServer } from 'ws';
import { REMOTE_MODULE, type RemoteReducer, type RemoteTable } from '../spacetimedb/bindings/index.ts';
import { rowFromSdk, rowToSdk } from '../spacetimedb/value-conversion.ts';
import {
  type ClientApi,
  type ClientMessageValue,
  clientApi,
  type ServerMessageValue,
} from './spacetimedb-client-api.ts';

const PROTOCOL = 'v2.bsatn.spacetimedb';

export interface SpacetimeDbTestServerOptions {
  /** The database name clients connect to. @default 'clawfleet' */
  databaseName?: string;
  /** The SQLite file behind the server; it outlives `kill()`. @default a file in a new temp directory */
  path?: string;
  /** The module owner, the admin of the embedded host. @default 'orchestrator' */
  adminName?: string;
  logger?: Logger;
}

type RowList = { sizeHint: { tag: 'RowOffsets'; value: bigint[] }; rowsData: Uint8Array };
type QuerySetUpdate = Extract<ServerMessageValue, { tag: 'TransactionUpdate' }>['value']['querySets'][number];

interface Peer {
  readonly id: string;
  /** The embedded host's caller name behind this identity. */
  readonly name: string;
  readonly socket: WebSocket;
  /** The registry's view of this peer: `identity` is the caller name the embedded host checks. */
  readonly subscriber: { id: string; identity: string; push(): void };
  readonly querySets: Map<number, ParsedBusQuery[]>;
}

/** One listening run of the server: a kill ends it, a restart starts the next one on the same port. */
interface Run {
  readonly http: Server;
  readonly sockets: WebSocketServer;
  readonly database: EmbeddedDatabase;
  readonly registry: SubscriptionRegistry;
  readonly peers: Set<Peer>;
  readonly offCommit: () => void;
}

export class SpacetimeDbTestServer {
  readonly databaseName: string;
  readonly #path: string;
  readonly #directory: string | undefined;
  readonly #adminName: string;
  readonly #logger: Logger;
  readonly #api: ClientApi;
  readonly #tables = new Map<string, { type: RemoteTable; serialize: (writer: unknown, value: unknown) => void }>();
  readonly #reducers = new Map<string, { type: RemoteReducer; deserialize: (reader: unknown) => unknown }>();
  /** Long-lived tokens and the short ones the SDK trades them for, both mapped to caller names. */
  readonly #tokens = new Map<string, string>();
  readonly #shortTokens = new Map<string, string>();
  #port = 0;
  #run: Run | undefined;
  /** The reducer call being run: its caller's share of the commit goes into its ReducerResult. */
  #calling: { peer: Peer; querySets: QuerySetUpdate[] } | undefined;

  private constructor(options: SpacetimeDbTestServerOptions, api: ClientApi) {
    this.databaseName = options.databaseName ?? 'clawfleet';
    this.#adminName = options.adminName ?? 'orchestrator';
    this.#logger = (options.logger ?? silentLogger).child({ component: 'spacetimedb-test-server' });
    this.#api = api;
    if (options.path) {
      this.#path = options.path;
    } else {
      this.#directory = mkdtempSync(`${process.env.TMPDIR ?? '/tmp'}/claw-stdb-double-`);
      this.#path = `${this.#directory}/bus.sqlite`;
    }
    for (const table of Object.values(REMOTE_MODULE.tables)) {
      this.#tables.set(table.sourceName, {
        type: table,
        serialize: ProductType.makeSerializer(table.rowType as never) as never,
      });
    }
    for (const reducer of REMOTE_MODULE.reducers) {
      this.#reducers.set(reducer.name, {
        type: reducer,
        deserialize: ProductType.makeDeserializer(reducer.paramsType as never) as never,
      });
    }
  }

  static async start(options: SpacetimeDbTestServerOptions = {}): Promise<SpacetimeDbTestServer> {
    const server = new SpacetimeDbTestServer(options, await clientApi());
    await server.restart();
    return server;
  }

  /** `ws://127.0.0.1:<port>`, what `SpacetimeDbBusClient` takes as `uri`. */
  get url(): string {
    return `ws://127.0.0.1:${this.#port}`;
  }

  get httpUrl(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** The SQLite file behind the server: a test may change the data with the server killed. */
  get databasePath(): string {
    return this.#path;
  }

  get running(): boolean {
    return this.#run !== undefined;
  }

  /** A token for the identity of caller `name` (e.g. the admin's, to connect as the module owner). */
  tokenFor(name: string): string {
    for (const [token, owner] of this.#tokens) if (owner === name) return token;
    const token = `double-${randomBytes(16).toString('hex')}`;
    this.#tokens.set(token, name);
    return token;
  }

  /** Listens (again, on the same port after `kill`), with the database reopened from its file. */
  async restart(): Promise<void> {
    if (this.#run) return;
    const database = EmbeddedDatabase.open({ path: this.#path, adminName: this.#adminName, logger: this.#logger });
    const registry = new SubscriptionRegistry(database, this.#logger);
    const sockets = new WebSocketServer({
      noServer: true,
      handleProtocols: (protocols) => (protocols.has(PROTOCOL) ? PROTOCOL : false),
    });
    const http = createServer((request, response) => this.#handleHttp(request, response));
    const run: Run = {
      http,
      sockets,
      database,
      registry,
      peers: new Set(),
      offCommit: database.onCommit((changes) => this.#publish(run, changes)),
    };
    http.on('upgrade', (request, socket, head) => this.#upgrade(run, request, socket, head));
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(this.#port, '127.0.0.1', () => {
        http.off('error', reject);
        resolve();
      });
    });
    this.#port = (http.address() as AddressInfo).port;
    this.#run = run;
  }

  /** Drops every connection at once (no close handshake) and stops listening, as a killed server would. */
  async kill(): Promise<void> {
    const run = this.#run;
    if (!run) return;
    this.#run = undefined;
    run.offCommit();
    for (const peer of run.peers) peer.socket.terminate();
    run.peers.clear();
    run.registry.clear();
    run.sockets.close();
    run.http.closeAllConnections();
    await new Promise<void>((resolve) => run.http.close(() => resolve()));
    run.database.close();
  }

  async dispose(): Promise<void> {
    await this.kill();
    if (this.#directory) rmSync(this.#directory, { recursive: true, force: true });
  }

  #handleHttp(request: IncomingMessage, response: ServerResponse) {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const reply = (status: number, body?: unknown): void => {
      response.statusCode = status;
      if (body === undefined) {
        response.end();
        return;
      }
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify(body));
    };
    if (request.method === 'GET' && url.pathname === '/v1/ping') return reply(200);
    if (request.method === 'POST' && url.pathname === '/v1/identity') {
      const name = `client-${randomBytes(6).toString('hex')}`;
      return reply(200, { identity: identityForName(name), token: this.tokenFor(name) });
    }
    if (request.method === 'POST' && url.pathname === '/v1/identity/websocket-token') {
      const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
      const name = token === undefined ? undefined : this.#tokens.get(token);
      // GUESS: the status a real server gives an unknown token.
      if (name === undefined) return reply(401, 'unknown token');
      const short = `short-${randomBytes(16).toString('hex')}`;
      this.#shortTokens.set(short, name);
      return reply(200, { token: short });
    }
    // GET /v1/database/<name>: the database's description; GUESS: the fields, beyond answering 200 or 404.
    const databaseRoute = /^\/v1\/database\/([^/]+)$/.exec(url.pathname);
    if (request.method === 'GET' && databaseRoute) {
      if (decodeURIComponent(databaseRoute[1]!) !== this.databaseName) return reply(404, 'database not found');
      return reply(200, { database_identity: identityForName(`database:${this.databaseName}`), host_type: 'Js' });
    }
    const sqlRoute = /^\/v1\/database\/([^/]+)\/sql$/.exec(url.pathname);
    if (request.method === 'POST' && sqlRoute) {
      let body = '';
      request.setEncoding('utf8');
      request.on('data', (chunk: string) => {
        body += chunk;
      });
      request.on('end', () => {
        const answer = this.#sql(decodeURIComponent(sqlRoute[1]!), request.headers.authorization, body);
        this.sqlRequests.push(body);
        reply(answer.status, answer.body);
      });
      return;
    }
    reply(404, 'not found');
  }

  /** Every statement the SQL endpoint received, in order (a test checks what never reached it). */
  readonly sqlRequests: string[] = [];

  /**
   * `POST /v1/database/<name>/sql` for the subset `claw db sql --server` needs:
   * `SELECT * | column, ... FROM table [WHERE column = literal [AND ...]]`, with the caller's row
   * visibility. The answer has SpacetimeDB's shape (`SqlStmtResult`: `[{ schema, rows,
   * total_duration_micros, stats }]`, element names as `{ some }`, types as SATS JSON).
   * GUESS: the JSON of identities (`{ "__identity__": "0x..." }`) and timestamps
   * (`{ "__timestamp_micros_since_unix_epoch__": n }`), the statuses of refusals (401 unknown token,
   * 404 unknown database, 400 with the error text for a query it cannot run), open-questions Q-140.
   */
  #sql(database: string, authorization: string | undefined, sql: string): { status: number; body: unknown } {
    const run = this.#run;
    if (!run) return { status: 503, body: 'not running' };
    if (database !== this.databaseName) return { status: 404, body: `database ${database} not found` };
    const token = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
    const caller = token === undefined ? undefined : this.#tokens.get(token);
    if (caller === undefined) return { status: 401, body: 'unknown token' };
    const match = /^\s*SELECT\s+(.+?)\s+FROM\s+([A-Za-z_][A-Za-z0-9_]*)(\s+WHERE\s+[\s\S]+?)?\s*;?\s*$/i.exec(sql);
    if (!match) return { status: 400, body: `SQL not supported by the test double: ${sql}` };
    const [, projection, table, where] = match as unknown as [string, string, string, string | undefined];
    const remote = this.#tables.get(table);
    if (!remote) return { status: 400, body: `no such table: \`${table}\`` };
    let rows: Record<string, unknown>[];
    try {
      const parsed = parseBusQuery(`SELECT * FROM ${table}${where ?? ''}`);
      const conditions = Object.fromEntries(
        parsed.where.map((condition) => [condition.column, condition.literal.value]),
      );
      rows = run.database.query(caller, table, conditions) as Record<string, unknown>[];
    } catch (error) {
      return { status: 400, body: ClawError.from(error).message };
    }
    const elements = (remote.type.rowType as { elements: { name: string; algebraicType: SdkType }[] }).elements;
    const columns =
      projection.trim() === '*' ? elements.map((element) => element.name) : projection.split(',').map((c) => c.trim());
    const chosen: { name: string; algebraicType: SdkType }[] = [];
    for (const column of columns) {
      const element = elements.find((candidate) => candidate.name === column);
      if (!element) return { status: 400, body: `no such column: \`${column}\`` };
      chosen.push(element);
    }
    return {
      status: 200,
      body: [
        {
          schema: {
            elements: chosen.map((element) => ({
              name: { some: element.name },
              algebraic_type: satsJsonType(element.algebraicType),
            })),
          },
          rows: rows.map((row) => chosen.map((element) => satsJsonValue(row[element.name], element.algebraicType))),
          total_duration_micros: 0,
          stats: { rows_inserted: 0, rows_deleted: 0, rows_updated: 0 },
        },
      ],
    };
  }

  #upgrade(run: Run, request: IncomingMessage, socket: Duplex, head: Buffer) {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const refuse = (status: number, text: string): void => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (url.pathname !== `/v1/database/${this.databaseName}/subscribe`) return refuse(404, 'Not Found');
    const short = url.searchParams.get('token');
    let name: string | undefined;
    let token: string;
    if (short === null) {
      name = `client-${randomBytes(6).toString('hex')}`;
      token = this.tokenFor(name);
    } else {
      name = this.#shortTokens.get(short);
      if (name === undefined) return refuse(401, 'Unauthorized');
      this.#shortTokens.delete(short);
      token = this.tokenFor(name);
    }
    const callerName = name;
    run.sockets.handleUpgrade(request, socket, head, (webSocket) => {
      if (this.#run !== run) {
        webSocket.terminate();
        return;
      }
      const id = randomBytes(8).toString('hex');
      const peer: Peer = {
        id,
        name: callerName,
        socket: webSocket,
        subscriber: { id, identity: callerName, push: () => {} },
        querySets: new Map(),
      };
      run.peers.add(peer);
      webSocket.on('message', (data: Buffer) => this.#receive(run, peer, new Uint8Array(data)));
      webSocket.on('close', () => this.#closed(run, peer));
      webSocket.on('error', (error) => this.#logger.debug({ err: error }, 'socket error'));
      run.database.clientConnected(callerName);
      const connectionId = url.searchParams.get('connection_id');
      this.#send(peer, {
        tag: 'InitialConnection',
        value: {
          identity: Identity.fromString(identityForName(callerName)),
          connectionId: connectionId ? ConnectionId.fromString(connectionId) : ConnectionId.random(),
          token,
        },
      } as ServerMessageValue);
    });
  }

  #closed(run: Run, peer: Peer): void {
    if (!run.peers.delete(peer)) return;
    run.registry.removeConnection(peer.subscriber);
    if (this.#run === run) run.database.clientDisconnected(peer.name);
  }

  #send(peer: Peer, message: ServerMessageValue): void {
    const writer = new this.#api.BinaryWriter(1024);
    this.#api.ServerMessage.serialize(writer, message);
    const body = writer.getBuffer();
    const frame = new Uint8Array(body.length + 1);
    // The first byte is the compression tag; 0 = none (the SDK's WebsocketDecompressAdapter reads it).
    frame.set(body, 1);
    peer.socket.send(frame);
  }

  #receive(run: Run, peer: Peer, data: Uint8Array) {
    let message: ClientMessageValue;
    try {
      message = this.#api.ClientMessage.deserialize(new this.#api.BinaryReader(data));
    } catch (error) {
      this.#logger.warn({ err: error }, 'undecodable client message; closing');
      peer.socket.close(1002, 'undecodable message');
      return;
    }
    switch (message.tag) {
      case 'Subscribe':
        return this.#subscribe(run, peer, message.value);
      case 'Unsubscribe':
        return this.#unsubscribe(run, peer, message.value);
      case 'CallReducer':
        return this.#callReducer(run, peer, message.value);
      case 'OneOffQuery':
        return this.#send(peer, {
          tag: 'OneOffQueryResult',
          value: {
            requestId: message.value.requestId,
            result: { tag: 'err', value: 'not supported by the test double' },
          },
        } as unknown as ServerMessageValue);
      case 'CallProcedure':
        return this.#send(peer, {
          tag: 'ProcedureResult',
          value: {
            status: { tag: 'InternalError', value: 'db-module has no procedures' },
            timestamp: Timestamp.now(),
            totalHostExecutionDuration: { __time_duration_micros__: 0n },
            requestId: message.value.requestId,
          },
        } as unknown as ServerMessageValue);
    }
  }

  #subscribe(run: Run, peer: Peer, request: Extract<ClientMessageValue, { tag: 'Subscribe' }>['value']): void {
    const querySetId = request.querySetId;
    try {
      const queries = request.queryStrings.map((text) => {
        const query = parseBusQuery(text);
        if (!run.database.tableNames().includes(query.table)) {
          throw new ClawError('SUBSCRIPTION_INVALID', `no such table: \`${query.table}\``);
        }
        if (!run.database.canRead(peer.name, query.table)) {
          throw new ClawError('SUBSCRIPTION_INVALID', `table \`${query.table}\` is private`);
        }
        return query;
      });
      const tables = run.registry.add(peer.subscriber, querySetId.id, queries);
      peer.querySets.set(querySetId.id, queries);
      this.#send(peer, {
        tag: 'SubscribeApplied',
        value: {
          requestId: request.requestId,
          querySetId,
          rows: { tables: tables.map(({ table, rows }) => ({ table, rows: this.#rowList(table, rows) })) },
        },
      });
    } catch (error) {
      // GUESS: the error text; a real server sends its own type checker's message.
      this.#send(peer, {
        tag: 'SubscriptionError',
        value: { requestId: request.requestId, querySetId, error: ClawError.from(error).message },
      });
    }
  }

  #unsubscribe(run: Run, peer: Peer, request: Extract<ClientMessageValue, { tag: 'Unsubscribe' }>['value']): void {
    const queries = peer.querySets.get(request.querySetId.id);
    peer.querySets.delete(request.querySetId.id);
    const dropped = queries ? run.registry.snapshot(peer.name, queries) : [];
    run.registry.remove(peer.subscriber, request.querySetId.id);
    this.#send(peer, {
      tag: 'UnsubscribeApplied',
      value: {
        requestId: request.requestId,
        querySetId: request.querySetId,
        rows:
          request.flags.tag === 'SendDroppedRows'
            ? { tables: dropped.map(({ table, rows }) => ({ table, rows: this.#rowList(table, rows) })) }
            : undefined,
      },
    });
  }

  #callReducer(run: Run, peer: Peer, request: Extract<ClientMessageValue, { tag: 'CallReducer' }>['value']) {
    const reply = (result: unknown): void =>
      this.#send(peer, {
        tag: 'ReducerResult',
        value: { requestId: request.requestId, timestamp: Timestamp.now(), result },
      } as ServerMessageValue);
    const reducer = this.#reducers.get(request.reducer);
    // GUESS: how a real server answers a reducer the module does not have.
    if (!reducer) return reply({ tag: 'InternalError', value: `No such reducer: ${request.reducer}` });
    let args: Record<string, unknown>;
    try {
      const value = reducer.deserialize(new BinaryReader(request.args)) as Record<string, unknown>;
      args = rowFromSdk(reducer.type.paramsType.elements, value);
    } catch (error) {
      return reply({ tag: 'InternalError', value: `Could not decode the arguments: ${(error as Error).message}` });
    }
    const calling = { peer, querySets: [] as QuerySetUpdate[] };
    this.#calling = calling;
    let result: ReturnType<EmbeddedDatabase['callReducers']>[number] | undefined;
    try {
      [result] = run.database.callReducers([{ callerName: peer.name, reducer: request.reducer, args }]);
    } finally {
      this.#calling = undefined;
    }
    if (result?.ok) {
      return reply({
        tag: 'Ok',
        value: { retValue: new Uint8Array(), transactionUpdate: { querySets: calling.querySets } },
      });
    }
    const error = result?.error ?? new ClawError('INTERNAL', 'no result');
    if (error.code === 'REDUCER_REJECTED') {
      // A SenderError's message, BSATN-encoded as a string, as the SDK reads it.
      const writer = new BinaryWriter(64);
      writer.writeString(error.message);
      return reply({ tag: 'Err', value: writer.getBuffer().slice() });
    }
    // GUESS: a reducer that fails for another reason (a bug, a bad argument) as InternalError.
    reply({ tag: 'InternalError', value: `${error.code}: ${error.message}` });
  }

  /** Sends one commit to each subscriber that sees part of it; the caller's part rides on its ReducerResult. */
  #publish(run: Run, changes: readonly BusRowChange[]): void {
    if (this.#run !== run) return;
    const byPeer = new Map<Peer, QuerySetUpdate[]>();
    const peers = new Map([...run.peers].map((peer) => [peer.subscriber as object, peer]));
    for (const [subscription, seen] of run.registry.route(changes)) {
      const peer = peers.get(subscription.connection);
      if (!peer) continue;
      const tables = new Map<string, { inserts: Record<string, unknown>[]; deletes: Record<string, unknown>[] }>();
      for (const change of seen) {
        let entry = tables.get(change.table);
        if (!entry) {
          entry = { inserts: [], deletes: [] };
          tables.set(change.table, entry);
        }
        if (change.op !== 'insert')
          entry.deletes.push(change.op === 'update' ? (change.oldRow ?? change.row) : change.row);
        if (change.op !== 'delete') entry.inserts.push(change.row);
      }
      const update: QuerySetUpdate = {
        querySetId: { id: subscription.id },
        tables: [...tables].map(([tableName, rows]) => ({
          tableName,
          rows: [
            {
              tag: 'PersistentTable',
              value: {
                inserts: this.#rowList(tableName, rows.inserts),
                deletes: this.#rowList(tableName, rows.deletes),
              },
            },
          ],
        })),
      } as QuerySetUpdate;
      const list = byPeer.get(peer) ?? [];
      list.push(update);
      byPeer.set(peer, list);
    }
    for (const [peer, querySets] of byPeer) {
      if (this.#calling?.peer === peer) this.#calling.querySets.push(...querySets);
      else this.#send(peer, { tag: 'TransactionUpdate', value: { querySets } });
    }
  }

  #rowList(table: string, rows: readonly Record<string, unknown>[]): RowList {
    const entry = this.#tables.get(table);
    if (!entry) throw new Error(`The test server has no row type for table ${table}`);
    const writer = new BinaryWriter(256);
    const offsets: bigint[] = [];
    for (const row of rows) {
      offsets.push(BigInt(writer.offset));
      entry.serialize(writer, rowToSdk(entry.type.rowType.elements, row));
    }
    // GUESS: a real server may send FixedSize for fixed-width rows; the SDK reads rows sequentially either way.
    return { sizeHint: { tag: 'RowOffsets', value: offsets }, rowsData: writer.getBuffer().slice() };
  }
}

/** An algebraic type as the SDK's bindings hold it. */
interface SdkType {
  tag: string;
  value?: unknown;
}

type SdkElement = { name: string; algebraicType: SdkType };

function specialName(type: SdkType): string | undefined {
  if (type.tag !== 'Product') return undefined;
  const elements = (type.value as { elements: SdkElement[] }).elements;
  return elements.length === 1 && /^__.*__$/.test(elements[0]!.name) ? elements[0]!.name : undefined;
}

/** A type in SATS JSON, as SpacetimeDB's HTTP answers carry them: `{ "U64": [] }`, `{ "Sum": { variants } }`. */
function satsJsonType(type: SdkType): unknown {
  if (type.tag === 'Product' || type.tag === 'Sum') {
    const key = type.tag === 'Product' ? 'elements' : 'variants';
    const items = (type.value as Record<string, SdkElement[]>)[key]!;
    return {
      [type.tag]: {
        [key]: items.map((item) => ({ name: { some: item.name }, algebraic_type: satsJsonType(item.algebraicType) })),
      },
    };
  }
  if (type.tag === 'Array') return { Array: satsJsonType(type.value as SdkType) };
  return { [type.tag]: [] };
}

/** A public row value (docs/bus.md) in SATS JSON for its column's type. */
function satsJsonValue(value: unknown, type: SdkType): unknown {
  if (type.tag === 'Sum') {
    const variants = (type.value as { variants: SdkElement[] }).variants;
    if (variants.length === 2 && variants[0]!.name === 'some' && variants[1]!.name === 'none') {
      return value === null || value === undefined
        ? { none: [] }
        : { some: satsJsonValue(value, variants[0]!.algebraicType) };
    }
    return value;
  }
  const special = specialName(type);
  if (special === '__identity__' || special === '__connection_id__') return { [special]: `0x${String(value)}` };
  if (special !== undefined) return { [special]: typeof value === 'bigint' ? Number(value) : value };
  if (typeof value === 'bigint') return Number(value);
  return value;
}
