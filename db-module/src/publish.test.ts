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

async function readAll(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

beforeEach(async () => {
  recorded = [];
  uploadStatus = 200;
  server = createServer(async (request, response) => {
    const body = await readAll(request);
    recorded.push({
      method: request.method ?? '',
      url: request.url ?? '',
      authorization: request.headers.authorization,
      body,
    });
    response.setHeader('content-type', 'application/json');
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
      'POST /v1/identity',
      'PUT /v1/database/clawfleet?host_type=Js',
    ]);
    expect(recorded[1]?.authorization).toBe('Bearer minted-token');
    expect(recorded[1]?.body).toBe('export default 1;');
  });

  it('publishes as the given owner without minting a new identity', async () => {
    await publishModule({ serverUrl: url, database: 'clawfleet-test', token: 'owner-token', bundle: 'x' });
    expect(recorded.map((request) => request.url)).toEqual(['/v1/database/clawfleet-test?host_type=Js']);
    expect(recorded[0]?.authorization).toBe('Bearer owner-token');
  });

  it('reports a rejected upload with the HTTP status', async () => {
    uploadStatus = 400;
    await expect(publishModule({ serverUrl: url, database: 'clawfleet', token: 't', bundle: 'x' })).rejects.toThrow(
      /HTTP 400/,
    );
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
