import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FleetConnection } from '@clawfleet/fleet-views';
import { type BusRow, type BusRowChange, ClawError, silentLogger } from '@clawfleet/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { SseReader } from '../testing/sse-reader.ts';
import type { HttpApiOptions } from './http-api-options.ts';
import { HttpApiServer } from './http-api-server.ts';

const TOKEN = 'a'.repeat(64);
const AUTH = { authorization: `Bearer ${TOKEN}` };

/** A fleet of fixed tables; writes are recorded. Enough to exercise the server; the real fleet runs in test/http-api.int.test.ts. */
function tableFleet(tables: Record<string, BusRow[]>): FleetConnection & { calls: [string, unknown][] } {
  const calls: [string, unknown][] = [];
  return {
    calls,
    async query(table, where = {}) {
      return (tables[table] ?? []).filter((row) => Object.entries(where).every(([key, value]) => row[key] === value));
    },
    async call(reducer, args) {
      calls.push([reducer, args]);
      if (reducer === 'create_stimulus') tables.stimulus?.push({ id: 1, created_by: 'ff', ...args });
    },
    async identity() {
      return 'ff';
    },
    async status() {
      throw new ClawError('INTERNAL', 'not in this test');
    },
    async agentControl() {
      throw new ClawError('INTERNAL', 'not in this test');
    },
    async sql() {
      throw new ClawError('INTERNAL', 'not in this test');
    },
  };
}

class ManualRows {
  listeners = new Set<(changes: readonly BusRowChange[]) => void>();
  onRowChanges(listener: (changes: readonly BusRowChange[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  emit(changes: BusRowChange[]): void {
    for (const listener of this.listeners) listener(changes);
  }
}

interface ErrorBody {
  error: { code: string; message: string };
}

async function errorOf(response: Response): Promise<ErrorBody> {
  return (await response.json()) as ErrorBody;
}

const servers: HttpApiServer[] = [];
const readers: SseReader[] = [];
afterEach(async () => {
  for (const reader of readers.splice(0)) reader.close();
  for (const server of servers.splice(0)) await server.close();
});

async function start(overrides: Partial<HttpApiOptions> = {}): Promise<{ server: HttpApiServer; rows: ManualRows }> {
  const rows = new ManualRows();
  const server = await HttpApiServer.create({
    port: 0,
    adminToken: TOKEN,
    fleet: tableFleet({ agent: [{ name: 'LeadClaw' }], stimulus: [], task: [{ id: 3, state: 'queued', title: 't' }] }),
    rowChanges: rows,
    metrics: { contentType: 'text/plain; version=0.0.4', scrape: async () => 'claw_up 1\n' },
    logger: silentLogger,
    ...overrides,
    // Ids from 1 make the expectations readable; the default (start time in microseconds) is tested below.
    events: { firstEventId: 1, ...overrides.events },
  });
  servers.push(server);
  await server.listen();
  return { server, rows };
}

function taskChange(id: number): BusRowChange {
  return { table: 'task', op: 'insert', row: { id, state: 'queued', title: `task ${id}` } };
}

describe('HTTP API: the admin token', () => {
  it('refuses a request without the token, or with a wrong one, with 401 AUTH_FAILED', async () => {
    const { server } = await start();
    const none = await fetch(`${server.url}/api/tasks`);
    expect(none.status).toBe(401);
    expect((await errorOf(none)).error.code).toBe('AUTH_FAILED');
    const wrong = await fetch(`${server.url}/api/tasks`, { headers: { authorization: `Bearer ${'b'.repeat(64)}` } });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toEqual({
      error: { code: 'AUTH_FAILED', message: 'The admin token in the Authorization header is wrong' },
    });
    const right = await fetch(`${server.url}/api/tasks`, { headers: AUTH });
    expect(right.status).toBe(200);
    expect(await right.json()).toEqual([{ id: 3, state: 'queued', title: 't' }]);
  });

  it('sends a browser without a session to the login page, and the login page sets an HttpOnly SameSite=Strict cookie', async () => {
    const { server } = await start();
    const page = await fetch(`${server.url}/api/status`, { headers: { accept: 'text/html' }, redirect: 'manual' });
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/login?next=%2Fapi%2Fstatus');
    const login = await fetch(`${server.url}/login`);
    expect(login.status).toBe(200);
    expect(await login.text()).toContain('<label for="token">Admin token</label>');

    const wrong = await fetch(`${server.url}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: 'nope' }),
    });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();
    const right = await fetch(`${server.url}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: TOKEN }),
    });
    expect(right.status).toBe(204);
    const cookie = right.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^claw_session=[0-9a-f]{64}; Max-Age=\d+; Path=\/; HttpOnly; SameSite=Strict$/);
    // The cookie is not the token.
    expect(cookie).not.toContain(TOKEN);
    const session = cookie.split(';')[0]!;
    const withCookie = await fetch(`${server.url}/api/tasks`, { headers: { cookie: session } });
    expect(withCookie.status).toBe(200);
    const forged = await fetch(`${server.url}/api/tasks`, { headers: { cookie: `claw_session=${'0'.repeat(64)}` } });
    expect(forged.status).toBe(401);
  });

  it('locks an address out after repeated wrong tokens, even for the right one, until the window ends', async () => {
    const { server } = await start({ authLimit: { maxFailures: 3, windowMs: 60_000 } });
    for (let attempt = 0; attempt < 3; attempt++) {
      expect((await fetch(`${server.url}/api/tasks`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    }
    const locked = await fetch(`${server.url}/api/tasks`, { headers: AUTH });
    expect(locked.status).toBe(429);
    expect((await errorOf(locked)).error.code).toBe('TOO_MANY_REQUESTS');
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('never sends CORS headers and refuses writes from another origin', async () => {
    const { server } = await start();
    const read = await fetch(`${server.url}/api/tasks`, { headers: { ...AUTH, origin: 'https://evil.example' } });
    expect(read.headers.get('access-control-allow-origin')).toBeNull();
    const preflight = await fetch(`${server.url}/api/stimuli`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    const write = await fetch(`${server.url}/api/stimuli`, {
      method: 'POST',
      headers: { ...AUTH, 'content-type': 'application/json', origin: 'https://evil.example' },
      body: JSON.stringify({ text: 'hello' }),
    });
    expect(write.status).toBe(403);
    expect((await errorOf(write)).error.code).toBe('FORBIDDEN');
    const sameOrigin = await fetch(`${server.url}/api/stimuli`, {
      method: 'POST',
      headers: { ...AUTH, 'content-type': 'application/json', origin: server.url },
      body: JSON.stringify({ text: 'hello' }),
    });
    expect(sameOrigin.status).toBe(201);
  });
});

describe('HTTP API: request validation', () => {
  it('answers malformed JSON, wrong fields and bad query values with 400 INVALID_PARAMS naming what was wrong', async () => {
    const { server } = await start();
    const post = (body: string) =>
      fetch(`${server.url}/api/stimuli`, {
        method: 'POST',
        headers: { ...AUTH, 'content-type': 'application/json' },
        body,
      });
    const malformed = await post('{"text": ');
    expect(malformed.status).toBe(400);
    expect((await errorOf(malformed)).error.code).toBe('INVALID_PARAMS');
    const priority = await errorOf(await post(JSON.stringify({ text: 'x', priority: 12 })));
    expect(priority.error.code).toBe('INVALID_PARAMS');
    expect(priority.error.message).toContain('`priority` expected an integer 0-9');
    const unknown = await errorOf(await post(JSON.stringify({ text: 'x', colour: 'red' })));
    expect(unknown.error.message).toContain('colour');
    const empty = await errorOf(await post(JSON.stringify({ text: '   ' })));
    expect(empty.error.message).toContain('the stimulus text is empty');
    const state = await fetch(`${server.url}/api/tasks?state=sleeping`, { headers: AUTH });
    expect(state.status).toBe(400);
    expect((await errorOf(state)).error.message).toContain('`state`');
    const id = await fetch(`${server.url}/api/tasks/abc`, { headers: AUTH });
    expect(id.status).toBe(400);
    const missing = await fetch(`${server.url}/api/tasks/99`, { headers: AUTH });
    expect(missing.status).toBe(404);
    expect((await errorOf(missing)).error).toEqual({
      code: 'NOT_FOUND',
      message: 'Task 99 does not exist (`claw tasks` lists them)',
    });
    const route = await fetch(`${server.url}/api/nothing`, { headers: AUTH });
    expect(route.status).toBe(404);
  });
});

describe('HTTP API: GET /events', () => {
  it('streams row changes and phase changes, each with an increasing id', async () => {
    const { server, rows } = await start();
    const reader = await SseReader.connect(`${server.url}/events`, AUTH);
    readers.push(reader);
    expect(reader.status).toBe(200);
    rows.emit([
      taskChange(1),
      {
        table: 'agent_status',
        op: 'update',
        row: { agent: 'LeadClaw', phase: 'acting', task_id: 1, cycle_id: 4 },
        oldRow: { agent: 'LeadClaw', phase: 'triaging', task_id: null, cycle_id: 4 },
      },
      // Progress only: a row event, no phase event.
      {
        table: 'agent_status',
        op: 'update',
        row: { agent: 'LeadClaw', phase: 'acting', task_id: 1, cycle_id: 4, progress: 'step 2' },
        oldRow: { agent: 'LeadClaw', phase: 'acting', task_id: 1, cycle_id: 4 },
      },
    ]);
    await reader.until(() => reader.events.length === 4);
    expect(reader.events.map((event) => event.event)).toEqual(['row', 'row', 'phase', 'row']);
    expect(reader.events.map((event) => Number(event.id))).toEqual([1, 2, 3, 4]);
    expect(JSON.parse(reader.events[0]!.data)).toEqual({ table: 'task', op: 'insert', row: taskChange(1).row });
    expect(JSON.parse(reader.events[2]!.data)).toEqual({ agent: 'LeadClaw', phase: 'acting', taskId: 1, cycleId: 4 });
  });

  it('resumes after Last-Event-ID with exactly the events missed, and sends a reset when they are no longer kept', async () => {
    const { server, rows } = await start({ events: { resumeCapacity: 5 } });
    const first = await SseReader.connect(`${server.url}/events`, AUTH);
    readers.push(first);
    rows.emit([taskChange(1), taskChange(2)]);
    await first.until(() => first.events.length === 2);
    first.close();
    // Published while the client was away.
    rows.emit([taskChange(3), taskChange(4)]);
    const resumed = await SseReader.connect(`${server.url}/events`, { ...AUTH, 'last-event-id': first.lastId! });
    readers.push(resumed);
    rows.emit([taskChange(5)]);
    await resumed.until(() => resumed.events.length === 3);
    expect(resumed.events.map((event) => JSON.parse(event.data).row.id)).toEqual([3, 4, 5]);
    expect(resumed.events.map((event) => event.id)).toEqual(['3', '4', '5']);

    rows.emit([6, 7, 8, 9, 10].map(taskChange));
    // Event 2 fell out of the ring of 5 (6-10 are kept): the client must reload.
    const late = await SseReader.connect(`${server.url}/events`, { ...AUTH, 'last-event-id': '2' });
    readers.push(late);
    await late.until(() => late.events.length === 1);
    expect(late.events[0]!.event).toBe('reset');
    expect(late.events[0]!.id).toBe('10');
    expect(JSON.parse(late.events[0]!.data)).toMatchObject({ oldestId: 6, newestId: 10 });
    // An id from another process's numbering (above the newest) also resets.
    const future = await SseReader.connect(`${server.url}/events?lastEventId=500`, AUTH);
    readers.push(future);
    await future.until(() => future.events.length === 1);
    expect(future.events[0]!.event).toBe('reset');
  });

  it('resets, rather than resumes, a client whose id comes from before a restart', async () => {
    const before = await start({ events: { firstEventId: undefined } });
    before.rows.emit([taskChange(1), taskChange(2)]);
    const earlier = await SseReader.connect(`${before.server.url}/events`, { ...AUTH, 'last-event-id': '0' });
    readers.push(earlier);
    // An id of 0 is from no process of this numbering at all.
    await earlier.until(() => earlier.events.length === 1);
    expect(earlier.events[0]!.event).toBe('reset');
    const lastOfBefore = before.server.events.newestId;
    expect(lastOfBefore).toBeGreaterThan(1_000_000_000_000_000);
    await new Promise((resolve) => setTimeout(resolve, 5));
    // The orchestrator restarted and has published more events since than the client had seen.
    const after = await start({ events: { firstEventId: undefined } });
    after.rows.emit([3, 4, 5, 6].map(taskChange));
    const resumed = await SseReader.connect(`${after.server.url}/events`, {
      ...AUTH,
      'last-event-id': String(lastOfBefore),
    });
    readers.push(resumed);
    await resumed.until(() => resumed.events.length === 1);
    expect(resumed.events[0]!.event).toBe('reset');
    expect(resumed.events[0]!.id).toBe(String(after.server.events.newestId));
  });

  it('drops a client that stops reading once its buffer passes the limit, and keeps serving the others', async () => {
    let dropped = 0;
    const { server, rows } = await start({
      events: { clientBufferBytes: 64 * 1024 },
      onEventClientDropped: () => {
        dropped += 1;
      },
    });
    const reading = await SseReader.connect(`${server.url}/events`, AUTH);
    readers.push(reading);
    // A raw client that sends the request and then never reads a byte.
    const stalled = connect(server.address.port, '127.0.0.1');
    await new Promise<void>((resolve) => stalled.once('connect', () => resolve()));
    stalled.write(`GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`);
    stalled.pause();
    let stalledClosed = false;
    stalled.on('close', () => {
      stalledClosed = true;
    });
    stalled.on('error', () => {});
    for (let attempt = 0; attempt < 100 && server.events.clientCount < 2; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(server.events.clientCount).toBe(2);
    const payload = 'x'.repeat(8 * 1024);
    // 48 MiB in all: far beyond any socket buffer, so the stalled client's backlog must pass 64 KiB.
    for (let round = 0; round < 6000 && dropped === 0; round++) {
      rows.emit([{ table: 'message', op: 'insert', row: { id: round, text: payload } }]);
      // A turn of the event loop per event lets the reading client keep up; the stalled one never reads.
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(dropped).toBe(1);
    expect(server.events.clientCount).toBe(1);
    await reading.until(() => reading.events.length > 0);
    expect(reading.ended).toBe(false);
    // Once it reads again, it finds its stream ended by the server (after what was already sent).
    stalled.resume();
    for (let attempt = 0; attempt < 500 && !stalledClosed; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(stalledClosed).toBe(true);
    stalled.destroy();
  });
});

describe('HTTP API: the dashboard files', () => {
  it('serves the static folder at / behind the token, and sends a browser without a session to log in first', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'claw-http-static-'));
    try {
      writeFileSync(join(folder, 'index.html'), '<!doctype html><title>fleet</title>');
      writeFileSync(join(folder, 'app.js'), 'export const fleet = 5;');
      const { server } = await start({ staticDirectory: folder });
      const page = await fetch(`${server.url}/`, { headers: AUTH });
      expect(page.status).toBe(200);
      expect(await page.text()).toBe('<!doctype html><title>fleet</title>');
      const script = await fetch(`${server.url}/app.js`, { headers: AUTH });
      expect(script.headers.get('content-type')).toContain('javascript');
      const browser = await fetch(`${server.url}/`, { headers: { accept: 'text/html' }, redirect: 'manual' });
      expect(browser.status).toBe(303);
      expect(browser.headers.get('location')).toBe('/login?next=%2F');
      expect((await fetch(`${server.url}/app.js`)).status).toBe(401);
      const outside = await fetch(`${server.url}/..%2f..%2fetc%2fpasswd`, { headers: AUTH });
      expect(outside.status).toBe(404);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});

describe('HTTP API: OpenAPI and metrics', () => {
  it('describes every route in /openapi.json, generated from the route schemas', async () => {
    const { server } = await start();
    const response = await fetch(`${server.url}/openapi.json`, { headers: AUTH });
    const document = (await response.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(document.openapi).toBe('3.1.0');
    const expected = [
      'get /api/status',
      'get /api/agents',
      'get /api/pool',
      'get /api/tasks',
      'get /api/tasks/{id}',
      'get /api/messages',
      'get /api/reflections',
      'get /api/memory/{agent}',
      'get /api/memory/entries/{id}/provenance',
      'get /api/attention',
      'get /api/plans',
      'get /api/usage',
      'post /api/stimuli',
      'post /api/attention/{id}/resolve',
      'post /api/plans/{id}/approve',
      'post /api/plans/{id}/reject',
      'post /api/agents/{name}/pause',
      'post /api/agents/{name}/resume',
      'post /api/agents/{name}/restart',
      'post /api/login',
      'post /api/logout',
      'get /login',
      'get /events',
      'get /metrics',
      'get /openapi.json',
    ];
    const described = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method} ${path}`),
    );
    expect(described.sort()).toEqual(expected.sort());
    const stimuli = document.paths['/api/stimuli']?.post as {
      requestBody: {
        content: { 'application/json': { schema: { properties: Record<string, unknown>; required: string[] } } };
      };
    };
    // Every route needs the token, said once for the document; the login page and the login itself say they do not.
    expect((document as unknown as { security: unknown[] }).security).toEqual([{ bearer: [] }, { session: [] }]);
    expect((document.paths['/api/login']!.post as { security: unknown[] }).security).toEqual([]);
    expect((document.paths['/api/tasks']!.get as { security?: unknown[] }).security).toBeUndefined();
    expect(Object.keys(stimuli.requestBody.content['application/json'].schema.properties).sort()).toEqual([
      'priority',
      'text',
      'to',
    ]);
  });

  it('serves the metrics source as Prometheus text, behind the token', async () => {
    const { server } = await start();
    expect((await fetch(`${server.url}/metrics`)).status).toBe(401);
    const response = await fetch(`${server.url}/metrics`, { headers: AUTH });
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4');
    expect(await response.text()).toBe('claw_up 1\n');
  });
});
