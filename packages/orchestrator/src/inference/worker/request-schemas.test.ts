import { isClawError, parseOrThrow } from '@clawfleet/protocol';
import { describe, expect, it } from 'vitest';
import { generateRequestSchema, modelSpecSchema } from './request-schemas.ts';

function messageOf(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    expect(isClawError(error, 'INVALID_PARAMS')).toBe(true);
    return (error as Error).message;
  }
  throw new Error('expected a throw');
}

const request = { modelId: 'tiny', slot: 0, prompt: 'hi', sampling: { maxTokens: 4 } };
const spec = { id: 'tiny', path: '/models/tiny.gguf', contextSize: 512, slots: 2, gpuLayers: 'auto' };

describe('parseOrThrow', () => {
  it('returns valid values unchanged', () => {
    expect(parseOrThrow(generateRequestSchema, request)).toEqual(request);
    expect(parseOrThrow(modelSpecSchema, spec)).toEqual(spec);
  });

  it.each([
    [{ ...request, sampling: { maxTokens: 0 } }, 'Expected `sampling.maxTokens` to be a number >= 1, got `0` (number)'],
    [{ ...request, slot: 1.5 }, 'Expected `slot` to be an integer, got `1.5` (number)'],
    [{ ...request, prompt: 7 }, 'Expected `prompt` to be a string, got `7` (number)'],
    [
      { ...request, modelId: 'has space' },
      'Expected `modelId` to be 1-64 letters, digits, `.`, `_` or `-`, got `has space` (string)',
    ],
    [
      { ...request, sampling: { maxTokens: 4, topP: 0 } },
      'Expected `sampling.topP` to be a number > 0, got `0` (number)',
    ],
  ])('names the field and the value: %j', (value, message) => {
    expect(messageOf(() => parseOrThrow(generateRequestSchema, value))).toBe(message);
  });

  it('explains a bad gpuLayers', () => {
    expect(messageOf(() => parseOrThrow(modelSpecSchema, { ...spec, gpuLayers: 'all' }))).toBe(
      'Expected `gpuLayers` to be `auto` or an integer 0-10000, got `all` (string)',
    );
  });
});
