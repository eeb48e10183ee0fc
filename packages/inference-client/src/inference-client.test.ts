import { rejectionOf } from '@clawfleet/protocol/testing';
import { describe, expect, it } from 'vitest';
import { InferenceClient, type InferenceTransport } from './inference-client.ts';

/** A transport that answers with what the test says, recording what was sent. */
function transport(answer: (method: string, onDelta?: (data: unknown) => void) => unknown) {
  const sent: { method: string; params: unknown }[] = [];
  const fake: InferenceTransport = {
    async request<Result>(method: string, params: unknown, options?: { onDelta?: (data: unknown) => void }) {
      sent.push({ method, params });
      return answer(method, options?.onDelta) as Result;
    },
  };
  return { fake, sent };
}

const result = {
  requestId: 'r-1',
  text: 'ab',
  modelId: 'tiny',
  tokensIn: 3,
  tokensOut: 2,
  tokensReused: 0,
  queuedMs: 1,
  generateMs: 2,
  stopReason: 'eos',
};

describe('InferenceClient', () => {
  it('sends validated params with the default priority and forwards deltas', async () => {
    const { fake, sent } = transport((_method, onDelta) => {
      onDelta?.({ text: 'a' });
      onDelta?.({ text: 'b' });
      return result;
    });
    const client = new InferenceClient(fake, { defaultPriority: 'reflect' });
    const deltas: string[] = [];
    expect(await client.generate('hi', { prefix: 'You are X. ', onDelta: (text) => deltas.push(text) })).toEqual(
      result,
    );
    expect(deltas).toEqual(['a', 'b']);
    expect(sent).toEqual([
      { method: 'inference.generate', params: { prompt: 'hi', priority: 'reflect', prefix: 'You are X. ' } },
    ]);
  });

  it('refuses bad params before sending, and bad responses or deltas after', async () => {
    const { fake, sent } = transport(() => ({ ...result, tokensOut: -1 }));
    const client = new InferenceClient(fake);
    const badParams = await rejectionOf(client.generate('hi', { maxTokens: 0 }));
    expect(badParams.code).toBe('INVALID_PARAMS');
    expect(badParams.message).toBe(
      'Invalid `generate` options at `maxTokens`: Expected `maxTokens` to be an integer 1-1048576, got `0` (number)',
    );
    expect(sent).toHaveLength(0);
    expect((await rejectionOf(client.generate('hi'))).code).toBe('INVALID_RESPONSE');

    const badDelta = transport((_method, onDelta) => {
      onDelta?.({ chunk: 1 });
      return result;
    });
    const deltaError = await rejectionOf(new InferenceClient(badDelta.fake).generate('hi'));
    expect(deltaError.code).toBe('INVALID_RESPONSE');

    const shortEmbed = transport(() => ({
      requestId: 'r-2',
      modelId: 'tiny',
      modelSha256: 'c'.repeat(64),
      vectors: [[1]],
      queuedMs: 0,
      generateMs: 0,
    }));
    const embedError = await rejectionOf(new InferenceClient(shortEmbed.fake).embed(['a', 'b']));
    expect(embedError.message).toBe('Invalid `inference.embed` response: 1 vectors for 2 texts');
  });
});
