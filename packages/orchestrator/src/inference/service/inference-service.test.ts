import { InferenceClient } from '@clawfleet/inference-client';
import { IpcClient, IpcServer, tokenAuthenticator } from '@clawfleet/ipc';
import { tempSocketPath } from '@clawfleet/ipc/testing';
import type { InferenceAccountingRecord, Logger } from '@clawfleet/protocol';
import { rejectionOf } from '@clawfleet/protocol/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeInferenceBackend } from '../../testing/fake-inference-backend.ts';
import { SlotPool } from '../slot-pool/slot-pool.ts';
import { InferenceService } from './inference-service.ts';
import type { InferenceServiceSettings } from './inference-service-settings.ts';

const tokens = { LeadClaw: 'lead-token', DevClaw: 'dev-token', Stranger: 'stranger-token', cli: 'cli-token' };

const settings: InferenceServiceSettings = {
  agents: {
    LeadClaw: { modelId: 'main', sampling: { maxTokens: 40 } },
    DevClaw: { modelId: 'main', embeddingModelId: 'embedder', sampling: { maxTokens: 400, temperature: 0.5, seed: 1 } },
    cli: { modelId: 'main', sampling: { maxTokens: 40 } },
  },
  humans: ['cli'],
};

/** Every line logged, with the bindings of the child logger that wrote it. */
function recordingLogger(lines: Record<string, unknown>[], bindings: Record<string, unknown> = {}): Logger {
  const write = (level: string) => (object: Record<string, unknown>, message?: string) =>
    lines.push({ level, ...bindings, ...object, message });
  return {
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
    child: (more) => recordingLogger(lines, { ...bindings, ...more }),
  };
}

interface Harness {
  backend: FakeInferenceBackend;
  pool: SlotPool;
  service: InferenceService;
  records: InferenceAccountingRecord[];
  lines: Record<string, unknown>[];
  client(agent: keyof typeof tokens): Promise<{ inference: InferenceClient; ipc: IpcClient }>;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function harness(
  options: { millisecondsPerToken?: number; slots?: number; maxQueuedPerAgent?: number } = {},
): Promise<Harness> {
  const backend = new FakeInferenceBackend({
    checkPaths: false,
    millisecondsPerToken: options.millisecondsPerToken,
    outputTokens: 100,
  });
  const pool = await SlotPool.create({
    backend,
    models: [
      { id: 'main', path: '/models/main.gguf', contextSize: 1024, slots: options.slots ?? 2, gpuLayers: 0 },
      { id: 'embedder', path: '/models/embedder.gguf', contextSize: 256, slots: 1, gpuLayers: 0 },
    ],
    ...(options.maxQueuedPerAgent === undefined ? {} : { maxQueuedPerAgent: options.maxQueuedPerAgent }),
  });
  const records: InferenceAccountingRecord[] = [];
  const lines: Record<string, unknown>[] = [];
  const service = new InferenceService({
    pool,
    settings,
    onAccounting: (record) => records.push(record),
    logger: recordingLogger(lines),
  });
  const socket = tempSocketPath();
  const server = new IpcServer({ socketPath: socket.socketPath, authenticate: tokenAuthenticator(tokens) });
  service.register(server);
  await server.listen();
  cleanups.push(
    socket.cleanup,
    () => backend.dispose(),
    () => pool.dispose(),
    () => server.close({ timeoutMs: 1000 }),
  );
  return {
    backend,
    pool,
    service,
    records,
    lines,
    async client(agent) {
      const ipc = await IpcClient.connect({
        socketPath: socket.socketPath,
        agent,
        token: tokens[agent],
        reconnect: false,
      });
      cleanups.push(() => ipc.close());
      return { inference: new InferenceClient(ipc), ipc };
    },
  };
}

async function until(condition: () => boolean): Promise<void> {
  for (let attempt = 0; attempt < 500 && !condition(); attempt++)
    await new Promise((resolve) => setTimeout(resolve, 5));
  expect(condition()).toBe(true);
}

describe('InferenceService over IPC', () => {
  it('streams a generation, then returns token counts and timings, and accounts for it', async () => {
    const { client, records, service } = await harness();
    const { inference } = await client('DevClaw');
    const deltas: string[] = [];
    const result = await inference.generate('Summarise the build log.', {
      prefix: 'You are DevClaw. ',
      priority: 'act',
      onDelta: (text) => deltas.push(text),
    });
    expect(result.text.length).toBeGreaterThan(0);
    expect(deltas.join('')).toBe(result.text);
    expect(result).toMatchObject({ modelId: 'main', tokensOut: 100, stopReason: 'eos' });
    expect(result.tokensIn).toBeGreaterThan(0);
    const again = await inference.generate('And now?', { prefix: 'You are DevClaw. ' });
    expect(again.tokensReused).toBe('You are DevClaw. '.length);

    expect(records).toHaveLength(2);
    expect(records[0]).toMatchObject({ agent: 'DevClaw', method: 'generate', outcome: 'ok', priority: 'act' });
    expect(records[1]).toMatchObject({ tokensReused: 'You are DevClaw. '.length });
    expect(new Set(records.map((record) => record.requestId)).size).toBe(2);
    const usage = await inference.usage();
    expect(usage.agent).toBe('DevClaw');
    expect(usage.totals).toMatchObject({
      requests: 2,
      failures: 0,
      cancelled: 0,
      tokensOut: result.tokensOut + again.tokensOut,
      tokensReused: again.tokensReused,
    });
    expect(service.usageByAgent().map((entry) => entry.agent)).toEqual(['DevClaw']);
  });

  it('caps maxTokens at the agent setting and refuses agents without settings', async () => {
    const { client } = await harness();
    const lead = (await client('LeadClaw')).inference;
    const capped = await lead.generate('Write a long answer.', { maxTokens: 10_000 });
    expect(capped).toMatchObject({ tokensOut: 40, stopReason: 'max-tokens' }); // LeadClaw's setting
    const lowered = await lead.generate('Write a short answer.', { maxTokens: 7 });
    expect(lowered).toMatchObject({ tokensOut: 7, stopReason: 'max-tokens' });
    const stranger = (await client('Stranger')).inference;
    const refused = await rejectionOf(stranger.generate('hello'));
    expect(refused.code).toBe('FORBIDDEN');
    expect(refused.message).toBe('Agent `Stranger` has no inference settings');
    const badPriority = await rejectionOf(lead.generate('x', { priority: 'urgent' as 'act' }));
    expect(badPriority.code).toBe('INVALID_PARAMS');
    expect(badPriority.message).toContain('Expected `priority` to be one of human, triage, act, reflect, compaction');
  });

  it('returns structured output checked against the schema, and OUTPUT_INVALID when it is cut off', async () => {
    const { client, records } = await harness();
    const { inference } = await client('DevClaw');
    const schema = {
      type: 'object',
      properties: { decision: { enum: ['act', 'delegate', 'defer', 'ignore'] }, reason: { type: 'string' } },
      required: ['decision', 'reason'],
      additionalProperties: false,
    };
    const decided = await inference.structured<{ decision: string; reason: string }>('Decide.', schema, {
      priority: 'triage',
    });
    expect(decided.value).toEqual(JSON.parse(decided.text));
    expect(['act', 'delegate', 'defer', 'ignore']).toContain(decided.value.decision);

    const cut = await rejectionOf(inference.structured('Decide.', schema, { maxTokens: 5 }));
    expect(cut.code).toBe('OUTPUT_INVALID');
    expect(cut.retryable).toBe(true);
    expect(records.at(-1)).toMatchObject({ outcome: 'failed', errorCode: 'OUTPUT_INVALID', tokensOut: 5 });
    // The rejected call is named across the socket, so the agent can record it on its cycle.
    expect(cut.details).toMatchObject({ requestId: records.at(-1)?.requestId, tokensOut: 5 });
    expect(typeof cut.details?.modelId).toBe('string');
    expect(Number(cut.details?.tokensIn)).toBeGreaterThan(0);

    const badSchema = await rejectionOf(inference.structured('Decide.', { type: 'frob' }));
    expect(badSchema.code).toBe('INVALID_PARAMS');
    expect(badSchema.message).toContain('Invalid `jsonSchema`');
  });

  it('embeds texts with the agent embedding model', async () => {
    const { client, backend } = await harness();
    const { inference } = await client('DevClaw');
    const result = await inference.embed(['alpha', 'beta', 'alpha'], { priority: 'reflect' });
    expect(result.modelId).toBe('embedder');
    expect(result.vectors).toHaveLength(3);
    expect(result.vectors[2]).toEqual(result.vectors[0]);
    expect(backend.loadedModelIds()).toContain('embedder');
  });

  it('cancels a running generation when the caller aborts, and frees the slot', async () => {
    const { client, pool, records } = await harness({ millisecondsPerToken: 5, slots: 1 });
    const { inference } = await client('DevClaw');
    const controller = new AbortController();
    let deltas = 0;
    const running = inference.generate('Tell a long story.', {
      signal: controller.signal,
      onDelta: () => {
        deltas += 1;
        if (deltas === 2) controller.abort();
      },
    });
    expect((await rejectionOf(running)).code).toBe('CANCELLED');
    await until(() => pool.status().running === 0);
    await until(() => records.length === 1);
    expect(records[0]).toMatchObject({ outcome: 'cancelled', errorCode: 'CANCELLED' });
  });

  it("cancels an agent's queued and running requests when it disconnects", async () => {
    const { client, pool, backend, records } = await harness({ slots: 1 });
    backend.closeGate();
    const dev = await client('DevClaw');
    const lead = await client('LeadClaw');
    const outcomes = [
      dev.inference.generate('first').catch((error: unknown) => error),
      dev.inference.generate('second').catch((error: unknown) => error),
    ];
    const leadResult = lead.inference.generate('waiting behind DevClaw');
    await until(() => pool.status().running === 1 && pool.status().queued === 2);
    await dev.ipc.close();
    await Promise.all(outcomes);
    // What the server did, not what the client raised locally: DevClaw's queued request ended there,
    // cancelled by the disconnect, and its running one was told to stop.
    await until(() => records.length === 1);
    expect(records[0]).toMatchObject({ agent: 'DevClaw', outcome: 'cancelled', errorCode: 'CONNECTION_CLOSED' });
    expect(pool.status()).toMatchObject({ queued: 1, running: 1 });
    backend.openGate();
    expect((await leadResult).text.length).toBeGreaterThan(0);
    const devRecords = records.filter((record) => record.agent === 'DevClaw');
    expect(devRecords).toHaveLength(2);
    expect(devRecords[1]).toMatchObject({
      outcome: 'cancelled',
      errorCode: 'CONNECTION_CLOSED',
      stopReason: 'aborted',
    });
    expect(records.at(-1)).toMatchObject({ agent: 'LeadClaw', outcome: 'ok' });
    expect(pool.status()).toMatchObject({ queued: 0, running: 0, permitsInUse: 0 });
  });

  it('refuses a flooding agent QUEUE_FULL over its per-agent queue limit while another agent is served', async () => {
    const { client } = await harness({ slots: 1, millisecondsPerToken: 2, maxQueuedPerAgent: 3 });
    const lead = await client('LeadClaw');
    const dev = await client('DevClaw');
    const flood = Array.from({ length: 10 }, (_, index) =>
      lead.inference.generate(`Request ${index}`, { priority: 'act' }).then(
        () => 'served',
        (error: { code?: string }) => error.code ?? 'other',
      ),
    );
    await expect(dev.inference.generate('My turn?', { priority: 'act' })).resolves.toMatchObject({ tokensOut: 100 });
    const outcomes = await Promise.all(flood);
    // Three wait (and one runs, unless the model was still loading when they came): the rest are refused.
    const served = outcomes.filter((outcome) => outcome === 'served').length;
    expect(served === 3 || served === 4).toBe(true);
    expect(outcomes.filter((outcome) => outcome === 'QUEUE_FULL')).toHaveLength(10 - served);
  });

  it('reserves priority human for a person: an agent asking for it is FORBIDDEN, the CLI gets it', async () => {
    const { client, records } = await harness();
    const lead = (await client('LeadClaw')).inference;
    const refused = await rejectionOf(lead.generate('I am a human, honest', { priority: 'human' }));
    expect(refused.code).toBe('FORBIDDEN');
    expect(refused.message).toBe(
      'Priority `human` is reserved for a person (identities: cli); agent `LeadClaw` may use triage, act, reflect or compaction',
    );
    expect((await rejectionOf(lead.embed(['x'], { priority: 'human' }))).code).toBe('FORBIDDEN');
    const cli = (await client('cli')).inference;
    expect((await cli.generate('A person asks.', { priority: 'human' })).text.length).toBeGreaterThan(0);
    expect(records.map((record) => [record.agent, record.priority])).toEqual([['cli', 'human']]);
  });

  it('refuses a prompt longer than the context can hold by its length, before tokenizing or queueing', async () => {
    const { client, backend } = await harness();
    const { inference } = await client('LeadClaw');
    const huge = 'x'.repeat(4 * 1024 * 1024);
    const refused = await rejectionOf(inference.generate(huge));
    expect(refused.code).toBe('INVALID_PARAMS');
    // main has a context of 1024 tokens: 16 characters per token at most.
    expect(refused.message).toBe(
      `Expected \`prefix\` and \`prompt\` together to be at most 16384 characters for model \`main\` (context 1024 tokens), got ${huge.length}`,
    );
    const split = await rejectionOf(inference.generate('x'.repeat(10_000), { prefix: 'y'.repeat(10_000) }));
    expect(split.code).toBe('INVALID_PARAMS');
    const longText = await rejectionOf((await client('DevClaw')).inference.embed(['ok', 'z'.repeat(5000)]));
    expect(longText.message).toBe('Expected `texts[1]` to be at most 4096 characters for model `embedder`, got 5000');
    expect(backend.statistics.generations).toBe(0);
    expect((await inference.generate('x'.repeat(16_000))).stopReason).toBe('max-tokens');
  });

  it('refuses a structured request whose jsonSchema is not a valid schema with INVALID_PARAMS', async () => {
    const { client, backend } = await harness();
    const { inference } = await client('DevClaw');
    const cases: [Record<string, unknown>, string][] = [
      [
        { type: 'object', properties: 5 },
        'Invalid `jsonSchema` at `properties`: Expected `properties` to be an object of schemas, got `5` (number)',
      ],
      [{ type: 'object', properties: { a: { type: 'strnig' } } }, 'Invalid `jsonSchema` at `properties.a.type`'],
      [
        { type: 'array', items: { type: 'string' }, maxItems: -1 },
        'Expected `maxItems` to be a non-negative integer, got `-1` (number)',
      ],
      [
        { anyOf: [{ type: 'string' }, { type: 'number' }] },
        '`anyOf` is not supported by structured output; use `oneOf`',
      ],
      [{ enum: [] }, 'Expected `enum` to list at least one value'],
    ];
    for (const [jsonSchema, message] of cases) {
      const refused = await rejectionOf(inference.structured('Decide.', jsonSchema));
      expect(refused.code).toBe('INVALID_PARAMS');
      expect(refused.message).toContain(message);
    }
    expect(backend.statistics.generations).toBe(0);
  });

  it('embeds without a generation slot, and accounts the tokens embedded', async () => {
    const { client, backend, pool, records } = await harness({ slots: 1 });
    backend.closeGate();
    const lead = (await client('LeadClaw')).inference;
    const generating = lead.generate('Hold the only slot.', { priority: 'triage' });
    await until(() => pool.status().running === 1);
    // The only generation slot is held; the embedding still runs (on the model's embedding context).
    const embedded = await lead.embed(['memory one', 'memory two'], { priority: 'act' });
    expect(embedded.vectors).toHaveLength(2);
    expect(records.at(-1)).toMatchObject({
      agent: 'LeadClaw',
      method: 'embed',
      outcome: 'ok',
      tokensIn: 'memory one'.length + 'memory two'.length,
    });
    backend.openGate();
    await generating;
  });

  it('gives each request an id on arrival that every log line about it and its record carry', async () => {
    const { client, records, lines } = await harness();
    const { inference } = await client('LeadClaw');
    const answer = await inference.generate('first');
    await rejectionOf(inference.structured('second', { properties: 5 }));
    expect(records).toHaveLength(1);
    const requestId = records[0]?.requestId;
    // The caller gets the same id, to join its own records with the server's.
    expect(answer.requestId).toBe(requestId);
    const about = lines.filter((line) => line.requestId === requestId);
    expect(about.map((line) => line.message)).toEqual(['request arrived', 'lease granted', 'request finished']);
    for (const line of about) expect(line).toMatchObject({ agent: 'LeadClaw', method: 'generate' });
    // The refused request has its own id too.
    const refused = lines.filter((line) => line.method === 'structured');
    expect(refused[0]?.requestId).toEqual(expect.any(String));
    expect(refused[0]?.requestId).not.toBe(requestId);
  });
});
