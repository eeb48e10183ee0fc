import { EmbeddedDatabase, identityForName } from '@clawfleet/embedded-bus';
import { type BusRow, silentLogger } from '@clawfleet/protocol';
import { rejectionOf } from '@clawfleet/protocol/testing';
import { afterEach, describe, expect, it } from 'vitest';
import type { PromptRetention } from '../config/config.ts';
import { InferenceService } from '../inference/service/inference-service.ts';
import { SlotPool } from '../inference/slot-pool/slot-pool.ts';
import { FakeInferenceBackend } from '../testing/fake-inference-backend.ts';
import { InferenceRecorder, schemaText, sha256Hex } from './inference-recorder.ts';

const ADMIN = 'orchestrator';
const SCHEMA = { type: 'object', properties: { b: { type: 'string' }, a: { type: 'string' } }, required: ['b', 'a'] };

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function harness(retention: PromptRetention = 30) {
  const backend = new FakeInferenceBackend({ checkPaths: false, outputTokens: 24 });
  const pool = await SlotPool.create({
    backend,
    models: [{ id: 'main', path: '/models/main.gguf', contextSize: 1024, slots: 1, gpuLayers: 0 }],
  });
  const database = EmbeddedDatabase.open({ path: ':memory:', adminName: ADMIN });
  database.callReducer(ADMIN, 'register_agent', {
    name: 'DevClaw',
    identity: identityForName('DevClaw'),
    role: 'code',
  });
  const recorder = new InferenceRecorder({
    database,
    adminName: ADMIN,
    retention,
    skip: ['cli'],
    logger: silentLogger,
  });
  const service = new InferenceService({
    pool,
    settings: {
      agents: {
        DevClaw: { modelId: 'main', sampling: { maxTokens: 64, temperature: 0.8, topP: 0.9 } },
        cli: { modelId: 'main', sampling: { maxTokens: 64 } },
      },
      humans: ['cli'],
    },
    onGeneration: (call) => recorder.record(call),
  });
  cleanups.push(
    () => backend.dispose(),
    () => pool.dispose(),
    () => database.close(),
  );
  const rows = (table: string): BusRow[] => database.query(ADMIN, table);
  return { backend, pool, database, recorder, service, rows };
}

describe('InferenceRecorder: every agent model call recorded for replay', () => {
  it('records a structured call with the seed the service chose, the model file hash and the texts', async () => {
    const { service, rows } = await harness();
    const reply = await service.structured('DevClaw', {
      prefix: 'You are DevClaw.',
      prompt: 'Decide.',
      priority: 'act',
      jsonSchema: SCHEMA,
    });
    const [record] = rows('inference_record');
    expect(record).toMatchObject({
      request_id: reply.requestId,
      agent: 'DevClaw',
      method: 'structured',
      model: 'main',
      engine: 'fake 1',
      backend: 'fake',
      temperature: 0.8,
      top_p: 0.9,
      max_tokens: 64,
      output: reply.text,
      output_sha256: sha256Hex(reply.text),
      stop_reason: 'eos',
      prompt_sha256: sha256Hex('Decide.'),
      prefix_sha256: sha256Hex('You are DevClaw.'),
      grammar_sha256: sha256Hex(schemaText(SCHEMA)),
    });
    // Sampling is always seeded, even when neither the caller nor the settings gave a seed.
    expect(Number.isInteger(record?.seed)).toBe(true);
    expect(record?.output_tokens).toEqual(Array.from(reply.text, (character) => character.codePointAt(0)));
    expect(record?.model_sha256).toMatch(/^[0-9a-f]{64}$/);
    const texts = Object.fromEntries(rows('inference_text').map((row) => [row.kind, row.text]));
    // The schema is kept as given: property order is part of the grammar.
    expect(texts).toEqual({
      prefix: 'You are DevClaw.',
      prompt: 'Decide.',
      schema: '{"type":"object","properties":{"b":{"type":"string"},"a":{"type":"string"}},"required":["b","a"]}',
    });
  });

  it('records the caller seed when one is given, and two calls with one prefix store it once', async () => {
    const { service, rows } = await harness();
    await service.generate('DevClaw', { prefix: 'P', prompt: 'one', priority: 'act', seed: 7 });
    await service.generate('DevClaw', { prefix: 'P', prompt: 'two', priority: 'act', seed: 8 });
    expect(rows('inference_record').map((row) => row.seed)).toEqual([7, 8]);
    expect(
      rows('inference_text')
        .map((row) => row.kind)
        .sort(),
    ).toEqual(['prefix', 'prompt', 'prompt']);
  });

  it('keeps hashes only under `hash-only`, and prunes what was stored before', async () => {
    const { service, rows, recorder } = await harness('hash-only');
    await service.structured('DevClaw', { prefix: 'P', prompt: 'secret', priority: 'act', jsonSchema: SCHEMA });
    expect(rows('inference_record')).toHaveLength(1);
    expect(rows('inference_text').map((row) => row.kind)).toEqual(['schema']);
    recorder.prune();
    expect(rows('inference_text').map((row) => row.kind)).toEqual(['schema']);
  });

  it('does not record the CLI (a person, not an agent)', async () => {
    const { service, rows } = await harness();
    await service.generate('cli', { prompt: 'hello', priority: 'human' });
    expect(rows('inference_record')).toEqual([]);
  });

  it('replays a recorded call to the same output, and refuses another model file', async () => {
    const { service, rows } = await harness();
    const reply = await service.generate('DevClaw', { prefix: 'P', prompt: 'again', priority: 'act' });
    const [record] = rows('inference_record');
    const replay = {
      modelId: 'main',
      fileSha256: String(record?.model_sha256),
      sampling: { temperature: 0.8, topP: 0.9, seed: Number(record?.seed), maxTokens: 64 },
      prefix: 'P',
      prompt: 'again',
    };
    const { result } = await service.replay('cli', replay);
    expect(result.text).toBe(reply.text);
    const refused = await rejectionOf(service.replay('cli', { ...replay, fileSha256: 'f'.repeat(64) }));
    expect(refused).toMatchObject({ code: 'MODEL_MISMATCH' });
    expect(refused.message).toContain('f'.repeat(64));
  });
});
