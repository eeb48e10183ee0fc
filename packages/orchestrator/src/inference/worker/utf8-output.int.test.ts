/**
 * The generated model writes single bytes; without the UTF-8 guard it wrote invalid sequences that
 * llama.cpp's grammar counted as one character and the decoder as several U+FFFD, so a string bounded
 * by `maxLength` came out longer and the service refused it (Q-110: 11 of 40 seeds at maxLength 30).
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureTinyModel } from '@clawfleet/tiny-model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StructuredSchemaCache } from '../service/structured-schemas.ts';
import { WorkerBackend } from './worker-backend.ts';

let backend: WorkerBackend;

beforeAll(async () => {
  const path = await ensureTinyModel(join(tmpdir(), 'clawfleet-test-models'));
  backend = await WorkerBackend.start({ gpu: false, maxThreads: 1, contextThreads: 1 });
  await backend.loadModel({ id: 'tiny', path, contextSize: 1024, slots: 1, gpuLayers: 0 });
});

afterAll(async () => {
  await backend?.dispose();
});

describe('output of a byte-level model is valid UTF-8', () => {
  it('keeps a string bounded by maxLength within it, as the service checks it, across 40 seeds', async () => {
    const schema = {
      type: 'object',
      properties: { reason: { type: 'string', maxLength: 30 } },
      required: ['reason'],
      additionalProperties: false,
    };
    const validator = new StructuredSchemaCache().validatorFor(schema);
    const refused: string[] = [];
    for (let seed = 1; seed <= 40; seed += 1) {
      const result = await backend.generate({
        modelId: 'tiny',
        slot: 0,
        prompt: 'Why? Answer in JSON.',
        sampling: { maxTokens: 200, temperature: 1, seed },
        jsonSchema: schema,
      });
      expect(result.stopReason).toBe('eos');
      const checked = validator.safeParse(JSON.parse(result.text));
      if (!checked.success || result.text.includes('\uFFFD')) refused.push(`seed ${seed}: ${result.text}`);
    }
    expect(refused).toEqual([]);
  });

  it('writes no replacement character in free text either', async () => {
    for (let seed = 1; seed <= 10; seed += 1) {
      const result = await backend.generate({
        modelId: 'tiny',
        slot: 0,
        prompt: 'Tell me anything.',
        sampling: { maxTokens: 120, temperature: 1, seed },
      });
      expect(result.tokensOut).toBeGreaterThan(0);
      // The last character may be cut by maxTokens; everything before it is whole.
      const whole = result.stopReason === 'max-tokens' ? result.text.replace(/\uFFFD$/, '') : result.text;
      expect(whole).not.toContain('\uFFFD');
    }
  });
});
