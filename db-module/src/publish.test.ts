import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isClawError } from '@clawfleet/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { publishModule } from '../scripts/publish.ts';

interface Recorded {
  method: string;
  url: string;
  authorization: string | undefined;
  body: string;
}

let server: Server;
let url: string;
let recorded: Recorded[];
let uploadStatus: number;
/** What `GET /v1/health` reports; undefined: the route is missing (404). */
let serverVersion: string | undefined;
/** Whether the database holds data the new schema is incompatible with (a breaking change). */
let breakingChange: boolean;

async function readAll(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

beforeEach(async () => {
  recorded = [];
  uploadStatus = 200;
  serverVersion = '2.8.3';
  breakingChange = false;
  server = createServer(async (request, response) => {
    const body = await readAll(request);
    recorded.push({
      method: request.method ?? '',
      url: request.url ?? '',
      authorization: request.headers.authorization,
      body,
    });
    response.setHeader('content-type', 'application/json');
    if (request.method === 'GET' && request.url === '/v1/health') {
      if (serverVersion === undefined) {
        response.statusCode = 404;
        response.end();
      } else {
        response.end(JSON.stringify({ package_name: 'spacetimedb-standalone', version: serverVersion, nodes: [1] }));
      }
      return;
    }
    const query = new URL(request.url ?? '/', 'http://x').searchParams;
    if (request.method === 'PUT' && breakingChange && query.get('clear') !== 'true') {
      // What SpacetimeDB's publish route answers for an AutoMigrateError (crates/client-api publish.rs).
      response.statusCode = 400;
      response.setHeader('content-type', 'text/plain');
      response.end('Database update rejected: Changing the type of column `owner` of table `task` is not supported');
      return;
    }
    if (request.method === 'POST' && request.url === '/v1/identity') {
      response.end(JSON.stringify({ identity: 'c200abc', token: 'minted-token' }));
      return;
    }
    response.statusCode = uploadStatus;
    response.end(JSON.stringify(uploadStatus === 200 ? { Success: { database_identity: 'c200def' } } : 'bad module'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('publishModule', () => {
  it('mints an owner identity, then uploads the bundle as a JS module with that token', async () => {
    const result = await publishModule({ serverUrl: `${url}/`, database: 'clawfleet', bundle: 'export default 1;' });
    expect(result.token).toBe('minted-token');
    expect(recorded.map((request) => `${request.method} ${request.url}`)).toEqual([
      'GET /v1/health',
      'POST /v1/identity',
      'PUT /v1/database/clawfleet?host_type=Js&policy=Compatible',
    ]);
    expect(recorded[2]?.authorization).toBe('Bearer minted-token');
    expect(recorded[2]?.body).toBe('export default 1;');
    expect(result.serverVersion).toBe('2.8.3');
  });

  it('publishes as the given owner without minting a new identity', async () => {
    await publishModule({ serverUrl: url, database: 'clawfleet-test', token: 'owner-token', bundle: 'x' });
    expect(recorded.map((request) => request.url)).toEqual([
      '/v1/health',
      '/v1/database/clawfleet-test?host_type=Js&policy=Compatible',
    ]);
    expect(recorded[1]?.authorization).toBe('Bearer owner-token');
  });

  it('reports a rejected upload with the HTTP status', async () => {
    uploadStatus = 400;
    await expect(publishModule({ serverUrl: url, database: 'clawfleet', token: 't', bundle: 'x' })).rejects.toThrow(
      /HTTP 400/,
    );
  });

  it.each([['2.7.9'], ['1.12.0'], ['2.2.0']])(
    'refuses server version %s before uploading, naming the minimum',
    async (version) => {
      serverVersion = version;
      const error = await publishModule({ serverUrl: url, database: 'clawfleet', token: 't', bundle: 'x' }).catch(
        (caught: unknown) => caught,
      );
      expect(isClawError(error, 'CONFLICT')).toBe(true);
      expect((error as Error).message).toContain(`is version ${version}; Clawfleet's module needs 2.8.0 or newer`);
      expect(recorded.map((request) => request.method)).toEqual(['GET']);
    },
  );

  it.each([['2.8.0'], ['2.10.1'], ['3.0.0-beta.1']])('accepts server version %s', async (version) => {
    serverVersion = version;
    const result = await publishModule({ serverUrl: url, database: 'clawfleet', token: 't', bundle: 'x' });
    expect(result.serverVersion).toBe(version);
  });

  it('refuses a server that does not report its version, unless told to go ahead', async () => {
    serverVersion = undefined;
    const error = await publishModule({ serverUrl: url, database: 'clawfleet', token: 't', bundle: 'x' }).catch(
      (caught: unknown) => caught,
    );
    expect(isClawError(error, 'CONFLICT')).toBe(true);
    expect((error as Error).message).toContain('does not report its version');
    expect((error as Error).message).toContain('--allow-unknown-version');
    const result = await publishModule({
      serverUrl: url,
      database: 'clawfleet',
      token: 't',
      bundle: 'x',
      allowUnknownVersion: true,
    });
    expect(result.serverVersion).toBeUndefined();
  });

  it('explains a breaking schema change: --clear for a development reset, a migration for real data', async () => {
    breakingChange = true;
    const error = await publishModule({ serverUrl: url, database: 'clawfleet', token: 't', bundle: 'x' }).catch(
      (caught: unknown) => caught,
    );
    expect(isClawError(error, 'CONFLICT')).toBe(true);
    const message = (error as Error).message;
    expect(message).toContain('cannot be applied to the existing data');
    expect(message).toContain('Changing the type of column `owner`');
    expect(message).toContain('publish again with --clear (deletes every row)');
    expect(message).toContain('For real data');
    expect((error as { details?: unknown }).details).toMatchObject({ reason: 'schema-incompatible' });
  });

  it('publishes a breaking change with clear=true when asked to reset the database', async () => {
    breakingChange = true;
    await publishModule({ serverUrl: url, database: 'clawfleet', token: 't', bundle: 'x', clear: true });
    expect(recorded.at(-1)?.url).toBe('/v1/database/clawfleet?host_type=Js&policy=Compatible&clear=true');
  });

  it.each([
    [
      { serverUrl: 'ftp://host', database: 'clawfleet' },
      'Expected `serverUrl` to be an http(s) URL, got `ftp://host` (string)',
    ],
    [{ serverUrl: undefined, database: 'clawfleet' }, 'Expected `serverUrl` to be an http(s) URL'],
    [{ serverUrl: 'http://h', database: 'Claw Fleet' }, 'Expected `database` to be 1-64 lowercase letters'],
    [{ serverUrl: 'http://h', database: 'clawfleet', token: '' }, 'Expected `token` to be a non-empty string'],
  ])('rejects bad options before sending anything: %j', async (options, message) => {
    const error = await publishModule({ ...(options as { serverUrl: string; database: string }), bundle: 'x' }).catch(
      (caught: unknown) => caught,
    );
    expect(isClawError(error, 'CONFIG_INVALID')).toBe(true);
    expect((error as Error).message).toContain(message);
    expect(recorded).toEqual([]);
  });
});
