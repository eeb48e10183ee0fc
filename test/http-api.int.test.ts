import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AgentConnection, connectAgent } from '@clawfleet/agent-connection';
import { SseReader } from '@clawfleet/http-api/testing';
import { loadConfig, Orchestrator } from '@clawfleet/orchestrator';
import { FakeAgentRuntime } from '@clawfleet/orchestrator/testing';
import { ClawError, silentLogger } from '@clawfleet/protocol';
import { writeTinyModel } from '@clawfleet/tiny-model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The HTTP API of a real orchestrator (embedded bus on SQLite, inference worker on the generated
 * tiny model, IPC socket) on an ephemeral port. Agents are run by a fake runtime; where an agent's
 * work matters, the test connects as that agent over the socket with its token and makes the same
 * reducer and inference calls its loop makes.
 */
let scratch: string;
let orchestrator: Orchestrator;
let base: string;
let token: string;
let lead: AgentConnection;
const runtime = new FakeAgentRuntime();
const readers: SseReader[] = [];

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'claw-http-'));
  const modelPath = join(scratch, 'tiny.gguf');
  await writeTinyModel(modelPath);
  const config = loadConfig(
    {
      PATH: '/usr/bin:/bin',
      CLAW_DATA_DIR: join(scratch, 'data'),
      CLAW_MODEL_PATH: modelPath,
      CLAW_SLOTS: '1',
      CLAW_CONTEXT_SIZE: '256',
      CLAW_THREADS: '1',
      CLAW_GPU: 'cpu',
      CLAW_DRAIN_TIMEOUT_MS: '500',
      // The fake agents never heartbeat: no stall is judged of them during the test.
      CLAW_AGENT_START_GRACE_SECONDS: '3600',
      CLAW_HTTP_PORT: '0',
    },
    scratch,
  );
  orchestrator = await Orchestrator.start(config, silentLogger, { agentRuntime: runtime });
  base = orchestrator.http!.url;
  const tokens = JSON.parse(readFileSync(config.tokensPath, 'utf8')) as Record<string, string>;
  token = tokens.cli!;
  lead = await connectAgent({
    socketPath: config.socketPath,
    name: 'LeadClaw',
    token: tokens.LeadClaw!,
    reconnect: false,
  });
});
afterAll(async () => {
  for (const reader of readers) reader.close();
  await lead?.dispose();
  await orchestrator?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

function api(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${base}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...init.headers },
  });
}

async function json<T = Record<string, unknown>>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

/** The value of one sample in a Prometheus exposition, 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`))) continue;
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

async function scrape(): Promise<string> {
  const response = await api('/metrics');
  expect(response.status).toBe(200);
  return response.text();
}

describe('HTTP API on a running orchestrator', () => {
  it('listens on loopback only, and logs in with the CLI token', async () => {
    expect(orchestrator.http!.address.address).toBe('127.0.0.1');
    const wrong = await fetch(`${base}/api/status`, { headers: { authorization: 'Bearer not-the-token' } });
    expect(wrong.status).toBe(401);
    expect((await json<{ error: { code: string } }>(wrong)).error.code).toBe('AUTH_FAILED');
    const login = await fetch(`${base}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token }),
    });
    expect(login.status).toBe(204);
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const status = await json<{ orchestrator: { pid: number }; agents: { name: string }[] }>(
      await fetch(`${base}/api/status`, { headers: { cookie } }),
    );
    expect(status.orchestrator.pid).toBe(process.pid);
    expect(status.agents.map((agent) => agent.name)).toEqual([
      'DevClaw',
      'LeadClaw',
      'OpsClaw',
      'ScribeClaw',
      'UXClaw',
    ]);
    const pool = await json<{ models: { id: string; slots: number }[] }>(await api('/api/pool'));
    expect(pool.models).toEqual([expect.objectContaining({ id: 'default', slots: 1 })]);
  });

  it('refuses bad bodies with 400 and an unknown agent with 404, writing nothing', async () => {
    const before = await orchestrator.database.query('cli', 'stimulus');
    const malformed = await api('/api/stimuli', { method: 'POST', body: '{"text":' });
    expect(malformed.status).toBe(400);
    expect((await json<{ error: { code: string } }>(malformed)).error.code).toBe('INVALID_PARAMS');
    const tooLong = await api('/api/stimuli', { method: 'POST', body: JSON.stringify({ text: 'x'.repeat(8_001) }) });
    expect(tooLong.status).toBe(400);
    const nobody = await api('/api/stimuli', { method: 'POST', body: JSON.stringify({ text: 'hi', to: 'NoClaw' }) });
    expect(nobody.status).toBe(404);
    expect((await json<{ error: { message: string } }>(nobody)).error.message).toContain('Unknown agent `NoClaw`');
    expect(await orchestrator.database.query('cli', 'stimulus')).toEqual(before);
  });

  it('takes a stimulus by POST; the task an agent makes of it shows in /api/tasks and on /events', async () => {
    const events = await SseReader.connect(`${base}/events`, { authorization: `Bearer ${token}` });
    readers.push(events);
    const created = await api('/api/stimuli', {
      method: 'POST',
      body: JSON.stringify({ text: 'Summarise the failed tasks', to: 'LeadClaw', priority: 8 }),
    });
    expect(created.status).toBe(201);
    const stimulus = await json<{ id: number; text: string; source: string; priority: number; target_agent: string }>(
      created,
    );
    expect(stimulus).toMatchObject({
      text: 'Summarise the failed tasks',
      source: 'http',
      priority: 8,
      target_agent: 'LeadClaw',
    });

    // LeadClaw triages it into a task, as its loop does.
    await lead.bus.callReducer('create_task', {
      title: 'Summarise the failed tasks',
      description: 'from the dashboard',
      priority: 8,
      depends_on: [],
      stimulus_id: stimulus.id,
    } as never);
    const tasks = await json<{ id: number; stimulus_id: number; state: string }[]>(
      await api('/api/tasks?state=queued'),
    );
    const task = tasks.find((row) => row.stimulus_id === stimulus.id);
    expect(task).toMatchObject({ state: 'queued' });
    const detail = await json<{ task: { id: number } }>(await api(`/api/tasks/${task!.id}`));
    expect(detail.task.id).toBe(task!.id);

    await events.until(() =>
      events.events.some((event) => event.event === 'row' && JSON.parse(event.data).table === 'task'),
    );
    const rows = events.events.filter((event) => event.event === 'row').map((event) => JSON.parse(event.data));
    expect(rows).toContainEqual({ table: 'stimulus', op: 'insert', row: expect.objectContaining({ id: stimulus.id }) });
    expect(rows).toContainEqual({ table: 'task', op: 'insert', row: expect.objectContaining({ id: task!.id }) });
  });

  it('resumes /events with Last-Event-ID without missing a change made while disconnected', async () => {
    const first = await SseReader.connect(`${base}/events`, { authorization: `Bearer ${token}` });
    readers.push(first);
    await api('/api/stimuli', { method: 'POST', body: JSON.stringify({ text: 'first, seen live' }) });
    await first.until(() => first.events.some((event) => event.data.includes('first, seen live')));
    const lastSeen = first.lastId!;
    first.close();
    for (const text of ['missed one', 'missed two', 'missed three']) {
      expect((await api('/api/stimuli', { method: 'POST', body: JSON.stringify({ text }) })).status).toBe(201);
    }
    const resumed = await SseReader.connect(`${base}/events`, {
      authorization: `Bearer ${token}`,
      'last-event-id': lastSeen,
    });
    readers.push(resumed);
    await resumed.until(() => resumed.events.some((event) => event.data.includes('missed three')));
    const texts = resumed.events
      .filter((event) => event.event === 'row')
      .map((event) => JSON.parse(event.data) as { table: string; row: { text?: string } })
      .filter((event) => event.table === 'stimulus')
      .map((event) => event.row.text);
    expect(texts).toEqual(['missed one', 'missed two', 'missed three']);
    const ids = resumed.events.map((event) => Number(event.id));
    expect(ids[0]).toBe(Number(lastSeen) + 1);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
  });

  it('acts through the same reducers as the CLI: attention, plans, pause and resume', async () => {
    await lead.bus.callReducer('request_attention', {
      text: 'May I delete the old logs?',
      priority: 5,
      default_action: 'keep them',
      expires_in_seconds: 3600,
    } as never);
    const [request] = await json<{ id: number; agent: string }[]>(await api('/api/attention'));
    expect(request).toMatchObject({ agent: 'LeadClaw' });
    const resolved = await api(`/api/attention/${request!.id}/resolve`, {
      method: 'POST',
      body: JSON.stringify({ resolution: 'yes, older than a week' }),
    });
    expect(resolved.status).toBe(200);
    expect(await json(resolved)).toMatchObject({ state: 'resolved', resolution: 'yes, older than a week' });
    // The reducer refuses to resolve it twice: a conflict with the request's state.
    const again = await api(`/api/attention/${request!.id}/resolve`, { method: 'POST', body: '{}' });
    expect(again.status).toBe(409);
    expect((await json<{ error: { code: string } }>(again)).error.code).toBe('REDUCER_REJECTED');
    expect((await api('/api/plans/9999/approve', { method: 'POST', body: '{}' })).status).toBe(404);
    const noReason = await api('/api/plans/1/reject', { method: 'POST', body: '{}' });
    expect(noReason.status).toBe(400);

    const paused = await json<{ agent: string; state: string }>(
      await api('/api/agents/DevClaw/pause', { method: 'POST', body: '{}' }),
    );
    expect(paused).toMatchObject({ agent: 'DevClaw', state: 'paused' });
    const agents = await json<{ name: string; supervision: { state: string } }[]>(await api('/api/agents'));
    expect(agents.find((agent) => agent.name === 'DevClaw')?.supervision.state).toBe('paused');
    const resumed = await json<{ state: string }>(
      await api('/api/agents/DevClaw/resume', { method: 'POST', body: '{}' }),
    );
    expect(resumed.state).toBe('running');
  });

  it('counts what happened in /metrics: a cycle per agent and outcome, tool calls, refused reducer calls, inference', async () => {
    const before = await scrape();
    const cyclesBefore = sample(before, 'claw_agent_cycles_total', { agent: 'LeadClaw', outcome: 'success' });
    const rejectedBefore = sample(before, 'claw_bus_reducer_errors_total', {
      reducer: 'begin_cycle',
      code: 'REDUCER_REJECTED',
    });

    // One cycle of LeadClaw, end to end, as its loop makes it.
    const phases = await SseReader.connect(`${base}/events`, { authorization: `Bearer ${token}` });
    readers.push(phases);
    const stimulus = await json<{ id: number }>(
      await api('/api/stimuli', { method: 'POST', body: JSON.stringify({ text: 'Check the disk', to: 'LeadClaw' }) }),
    );
    const call = (reducer: string, args: Record<string, unknown>) =>
      lead.bus.callReducer(reducer as never, args as never);
    await call('begin_cycle', {
      trigger_kind: 'stimulus',
      trigger_key: `stimulus:${stimulus.id}`,
      trigger_text: 'Check the disk',
      priority: 7,
    });
    const cycle = (await orchestrator.database.query('cli', 'cycle')).find(
      (row) => row.trigger_key === `stimulus:${stimulus.id}`,
    )!;
    await call('report_agent_status', { phase: 'triaging', cycle_id: cycle.id, progress: 'triage', queue_length: 0 });
    await lead.inference.generate('Triage: Check the disk', { maxTokens: 8 });
    await call('record_triage', { cycle_id: cycle.id, decision: 'act', priority: 7, reason: 'disk', defer_seconds: 0 });
    await call('report_agent_status', { phase: 'acting', cycle_id: cycle.id, progress: 'step 1', queue_length: 0 });
    await call('begin_tool_call', { cycle_id: cycle.id, step: 1, tool: 'system.disk', args: '{}', side_effect: false });
    await call('finish_tool_call', {
      idempotency_key: `${cycle.id}:1`,
      state: 'succeeded',
      result_digest: '0'.repeat(64),
      result: 'ok',
      error_code: '',
      duration_ms: 3,
    });
    await call('finish_cycle', { cycle_id: cycle.id, outcome: 'success', detail: 'checked' });
    await call('report_agent_status', { phase: 'idle', progress: 'done', queue_length: 0 });
    // A second begin for the same trigger is refused by the reducer.
    await expect(
      call('begin_cycle', {
        trigger_kind: 'stimulus',
        trigger_key: `stimulus:${stimulus.id}`,
        trigger_text: 'x',
        priority: 7,
      }),
    ).rejects.toMatchObject({ code: 'REDUCER_REJECTED' });

    await phases.until(() => phases.events.some((event) => event.event === 'phase' && event.data.includes('"idle"')));
    expect(
      phases.events.filter((event) => event.event === 'phase').map((event) => JSON.parse(event.data).phase),
    ).toEqual(['triaging', 'acting', 'idle']);

    const after = await scrape();
    expect(sample(after, 'claw_agent_cycles_total', { agent: 'LeadClaw', outcome: 'success' })).toBe(cyclesBefore + 1);
    expect(
      sample(after, 'claw_agent_tool_calls_total', { agent: 'LeadClaw', tool: 'system.disk', outcome: 'succeeded' }),
    ).toBe(1);
    expect(sample(after, 'claw_agent_phase_seconds_count', { agent: 'LeadClaw', phase: 'triaging' })).toBe(1);
    expect(sample(after, 'claw_agent_phase_seconds_count', { agent: 'LeadClaw', phase: 'acting' })).toBe(1);
    expect(sample(after, 'claw_bus_reducer_errors_total', { reducer: 'begin_cycle', code: 'REDUCER_REJECTED' })).toBe(
      rejectedBefore + 1,
    );
    expect(sample(after, 'claw_bus_reducer_calls_total', { reducer: 'finish_cycle' })).toBeGreaterThanOrEqual(1);
    expect(
      sample(after, 'claw_inference_requests_total', { method: 'generate', outcome: 'ok' }),
    ).toBeGreaterThanOrEqual(1);
    expect(sample(after, 'claw_inference_tokens_total', { kind: 'completion' })).toBeGreaterThan(0);
    expect(sample(after, 'claw_pool_slots', { model: 'default' })).toBe(1);
    expect(sample(after, 'claw_bus_notify_seconds_count')).toBeGreaterThan(0);
    expect(sample(after, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(after).toContain('nodejs_eventloop_lag_seconds');
  });
});

describe('HTTP port in use', () => {
  it('a configured port that is taken stops the start with SOCKET_IN_USE, and leaves the data directory free', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'claw-http-port-'));
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    const port = (squatter.address() as { port: number }).port;
    try {
      const modelPath = join(directory, 'tiny.gguf');
      await writeTinyModel(modelPath);
      const environment = {
        PATH: '/usr/bin:/bin',
        CLAW_DATA_DIR: join(directory, 'data'),
        CLAW_MODEL_PATH: modelPath,
        CLAW_SLOTS: '1',
        CLAW_CONTEXT_SIZE: '256',
        CLAW_THREADS: '1',
        CLAW_GPU: 'cpu',
        CLAW_START_AGENTS: 'false',
      };
      const refused = await Orchestrator.start(
        loadConfig({ ...environment, CLAW_HTTP_PORT: String(port) }, directory),
        silentLogger,
      ).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(refused).toBeInstanceOf(ClawError);
      expect(refused).toMatchObject({ code: 'SOCKET_IN_USE', details: { port } });
      // Everything it had started was stopped and the lock released: the next start works.
      const next = await Orchestrator.start(
        loadConfig({ ...environment, CLAW_HTTP_PORT: '0' }, directory),
        silentLogger,
      );
      expect(next.http?.address.port).not.toBe(port);
      await next.stop();
    } finally {
      squatter.close();
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
