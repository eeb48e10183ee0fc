import { describe, expect, it } from 'vitest';
import { ADMIN, createFixture, inferenceCallArgs } from '../testing/test-fixture.ts';

const HOUR_MS = 3_600_000;
const hex = (digit: string): string => digit.repeat(64);

describe('inference records: texts stored once per hash, pruned by retention', () => {
  it('stores a prefix shared by two calls once and moves its last use', () => {
    const { database, clock } = createFixture();
    const first = database.query(ADMIN, 'inference_text').find((row) => row.kind === 'prefix');
    clock.now += HOUR_MS;
    database.callReducer(
      ADMIN,
      'record_inference_call',
      inferenceCallArgs({
        request_id: '11111111-2222-4333-8444-555555555555',
        prompt_sha256: hex('9'),
        texts: [
          { sha256: hex('c'), kind: 'prefix', text: 'You are DevClaw.' },
          { sha256: hex('9'), kind: 'prompt', text: 'Another prompt' },
        ],
      }),
    );
    const texts = database.query(ADMIN, 'inference_text');
    expect(texts.filter((row) => row.kind === 'prefix')).toHaveLength(1);
    expect(texts.map((row) => row.kind).sort()).toEqual(['prefix', 'prompt', 'prompt', 'schema']);
    const prefix = texts.find((row) => row.kind === 'prefix');
    expect(Number(prefix?.last_used_at)).toBe(Number(first?.last_used_at) + HOUR_MS * 1000);
    expect(database.query(ADMIN, 'inference_record')).toHaveLength(2);
    database.close();
  });

  it('prunes prompts unused for longer than kept, keeps schemas and records', () => {
    const { database, clock } = createFixture();
    clock.now += 3 * 24 * HOUR_MS;
    database.callReducer(
      ADMIN,
      'record_inference_call',
      inferenceCallArgs({
        request_id: '11111111-2222-4333-8444-555555555555',
        prompt_sha256: hex('9'),
        texts: [{ sha256: hex('9'), kind: 'prompt', text: 'A recent prompt' }],
      }),
    );
    database.callReducer(ADMIN, 'prune_inference_texts', { keep_seconds: 24 * 3_600 });
    const left = database.query(ADMIN, 'inference_text').map((row) => `${row.kind}:${String(row.text)}`);
    expect(left.sort()).toEqual(['prompt:A recent prompt', 'schema:{"type":"object"}']);
    expect(database.query(ADMIN, 'inference_record')).toHaveLength(2);
    database.callReducer(ADMIN, 'prune_inference_texts', { keep_seconds: 0 });
    expect(database.query(ADMIN, 'inference_text').map((row) => row.kind)).toEqual(['schema']);
    database.close();
  });

  it('is private: an agent can neither read records nor texts', () => {
    const { database } = createFixture();
    for (const table of ['inference_record', 'inference_text']) {
      expect(database.canRead('DevClaw', table)).toBe(false);
      expect(database.query('DevClaw', table)).toEqual([]);
      expect(database.query(ADMIN, table).length).toBeGreaterThan(0);
    }
    database.close();
  });
});
