import { createHash } from 'node:crypto';
import { EmbeddedDatabase, identityForName } from '@clawfleet/embedded-bus';
import { silentLogger } from '@clawfleet/protocol';
import { rejectionOf } from '@clawfleet/protocol/testing';
import { afterEach, describe, expect, it } from 'vitest';
import type { PromptRetention } from '../config/config.ts';
import { InferenceService } from '../inference/service/inference-service.ts';
import { SlotPool } from '../inference/slot-pool/slot-pool.ts';
import { FakeInferenceBackend } from '../testing/fake-inference-backend.ts';
import { divergenceOf, replayCycle } from './cycle-replay.ts';
import { InferenceRecorder } from './inference-recorder.ts';

const ADMIN = 'orchestrator';
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** DevClaw's cycle with two recorded generations on the fake backend, under `retention`. */
async function recordedCycle(retention: PromptRetention) {
  const backend = new FakeInferenceBackend({ checkPaths: false, outputTokens: 20 });
  const pool = await SlotPool.create({
    backend,
    models: [{ id: 'main', path: '/models/main.gguf', contextSize: 1024, slots: 1, gpuLayers: 0 }],
  });
  const database = EmbeddedDatabase.open({ path: ':memory:', adminName: ADMIN });
  cleanups.push(
    () => backend.dispose(),
    () => pool.dispose(),
    () => database.close(),
  );
  database.callReducer(ADMIN, 'register_agent', {
    name: 'DevClaw',
    identity: identityForName('DevClaw'),
    role: 'code',
  });
  const recorder = new InferenceRecorder({ database, adminName: ADMIN, retention, logger: silentLogger });
  const service = new InferenceService({
    pool,
    settings: { agents: { DevClaw: { modelId: 'main', sampling: { maxTokens: 64, temperature: 0.7 } } } },
    onGeneration: (call) => recorder.record(call),
  });
  database.callReducer('DevClaw', 'begin_cycle', {
    trigger_kind: 'stimulus',
    trigger_key: 'stimulus:1',
    trigger_text: 'go',
    priority: 5,
  });
  const cycleId = Number(database.query(ADMIN, 'cycle')[0]?.id);
  for (const prompt of ['first', 'second']) {
    const reply = await service.generate('DevClaw', { prefix: 'P', prompt, priority: 'act' });
    database.callReducer('DevClaw', 'record_cycle_inference', {
      cycle_id: cycleId,
      phase: 'act',
      model: 'main',
      request_id: reply.requestId,
      prompt_hash: createHash('sha256').update(`P${prompt}`).digest('hex'),
      max_tokens: 64,
      tokens_in: reply.tokensIn,
      tokens_out: reply.tokensOut,
    });
  }
  const options = { database, adminName: ADMIN, inference: service, caller: 'cli', retention };
  return { database, cycleId, options };
}

describe('replayCycle', () => {
  it('replays every call of the cycle, in order, identical on the same backend', async () => {
    const { cycleId, options } = await recordedCycle(30);
    const report = await replayCycle(cycleId, options);
    expect(report).toMatchObject({ cycleId, agent: 'DevClaw', identical: true });
    expect(report.calls.map((call) => [call.index, call.identical, call.engineDifferences])).toEqual([
      [1, true, []],
      [2, true, []],
    ]);
  });

  it('refuses a cycle that does not exist, and one that made no model calls', async () => {
    const { database, options } = await recordedCycle(30);
    expect(await rejectionOf(replayCycle(77, options))).toMatchObject({ code: 'NOT_FOUND' });
    database.callReducer('DevClaw', 'begin_cycle', {
      trigger_kind: 'stimulus',
      trigger_key: 'stimulus:2',
      trigger_text: 'idle',
      priority: 5,
    });
    const quiet = Number(database.query(ADMIN, 'cycle').at(-1)?.id);
    const refused = await rejectionOf(replayCycle(quiet, options));
    expect(refused).toMatchObject({ code: 'NOT_FOUND' });
    expect(refused.message).toContain('made no model calls');
  });

  it('refuses, before running anything, a call whose prompt retention did not keep', async () => {
    const { cycleId, options } = await recordedCycle('hash-only');
    const refused = await rejectionOf(replayCycle(cycleId, options));
    expect(refused).toMatchObject({ code: 'NOT_RETAINED' });
    expect(refused.message).toMatch(
      /Call 1 \(act, request [0-9a-f-]{36}\): its prefix .*\(prompt retention is `hash-only`/,
    );
  });

  it('refuses a call that has no record (made before recording existed)', async () => {
    const { database, cycleId, options } = await recordedCycle(30);
    database.callReducer('DevClaw', 'record_cycle_inference', {
      cycle_id: cycleId,
      phase: 'reflect',
      model: 'main',
      request_id: '',
      prompt_hash: 'a'.repeat(64),
      max_tokens: 64,
      tokens_in: 1,
      tokens_out: 1,
    });
    const refused = await rejectionOf(replayCycle(cycleId, options));
    expect(refused).toMatchObject({ code: 'NOT_RETAINED' });
    expect(refused.message).toContain('Call 3 (reflect) has no inference record');
  });
});

describe('divergenceOf', () => {
  const output = (text: string, tokens: number[], stopReason = 'eos') => ({ text, tokens, stopReason });

  it('is undefined for the same text, tokens and stop reason', () => {
    expect(divergenceOf(output('abc', [1, 2]), output('abc', [1, 2]))).toBeUndefined();
  });

  it('names the first differing character and token with both snippets', () => {
    expect(divergenceOf(output('hello world', [1, 2, 3]), output('hello there', [1, 2, 9]))).toEqual({
      characterIndex: 6,
      tokenIndex: 2,
      recordedToken: 3,
      replayedToken: 9,
      recordedSnippet: 'hello world',
      replayedSnippet: 'hello there',
    });
  });

  it('reports a replay that stops early at the end of the shorter output', () => {
    expect(divergenceOf(output('abcdef', [1, 2, 3]), output('abc', [1], 'max-tokens'))).toMatchObject({
      characterIndex: 3,
      tokenIndex: 1,
      recordedToken: 2,
    });
    expect(divergenceOf(output('abc', [1]), output('abc', [1], 'max-tokens'))).toMatchObject({ characterIndex: 3 });
  });
});
