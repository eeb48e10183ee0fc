import { mkdtemp, readFile, rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isClawError } from '@clawfleet/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureTinyModel, tinyModelFileName } from './ensure-tiny-model.ts';
import { parseGenerateModelArguments } from './generate-model-arguments.ts';
import { resolveTinyModelOptions } from './tiny-model-options.ts';
import { buildTinyModel } from './write-tiny-model.ts';

const directory = await mkdtemp(join(tmpdir(), 'clawfleet-tiny-model-'));
afterAll(() => rm(directory, { recursive: true, force: true }));

function header(bytes: Uint8Array): { magic: string; version: number; tensors: bigint; metadata: bigint } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    magic: new TextDecoder().decode(bytes.subarray(0, 4)),
    version: view.getUint32(4, true),
    tensors: view.getBigUint64(8, true),
    metadata: view.getBigUint64(16, true),
  };
}

function caught(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('buildTinyModel', () => {
  it('writes a GGUF v3 file with 9 tensors per block plus 3', () => {
    const bytes = buildTinyModel();
    expect(header(bytes)).toEqual({ magic: 'GGUF', version: 3, tensors: 2n * 9n + 3n, metadata: 24n });
    expect(bytes.length % 32).toBe(0);
  });

  it('is byte-identical for the same seed and dimensions, and differs for another seed', () => {
    const first = buildTinyModel({ seed: 7 });
    expect(Buffer.from(buildTinyModel({ seed: 7 })).equals(Buffer.from(first))).toBe(true);
    expect(Buffer.from(buildTinyModel({ seed: 8 })).equals(Buffer.from(first))).toBe(false);
  });

  it('grows with the dimensions asked for', () => {
    const small = buildTinyModel();
    const larger = buildTinyModel({ embeddingLength: 128, blockCount: 3, feedForwardLength: 256 });
    expect(header(larger).tensors).toBe(3n * 9n + 3n);
    expect(larger.length).toBeGreaterThan(small.length * 2);
  });

  it('writes the crafted variant with F16 norms, and so a different file of the same shape', () => {
    const standard = buildTinyModel();
    const crafted = buildTinyModel({ variant: 'aborts-on-first-use' });
    expect(header(crafted).tensors).toBe(header(standard).tensors);
    expect(crafted.length).toBeLessThan(standard.length);
  });
});

describe('resolveTinyModelOptions', () => {
  it.each([
    [{ seed: -1 }, 'Expected `seed` to be an integer 0-4294967295, got `-1` (number)'],
    [{ embeddingLength: '64' }, 'Expected `embeddingLength` to be an integer 8-8192, got `64` (string)'],
    [{ embeddingLength: 66 }, 'Expected `embeddingLength` (66) to be a multiple of `headCount` (4)'],
    [{ headCountKv: 3 }, 'Expected `headCountKv` (3) to divide `headCount` (4)'],
    [{ variant: 'broken' }, 'Expected `variant` to be `standard` or `aborts-on-first-use`, got `broken` (string)'],
    [{ layers: 2 }, 'Unknown tiny model option `layers`'],
  ])('refuses %j with CONFIG_INVALID', (options, message) => {
    const error = caught(() => resolveTinyModelOptions(options as never));
    expect(isClawError(error, 'CONFIG_INVALID')).toBe(true);
    expect((error as Error).message).toBe(message);
  });
});

describe('ensureTinyModel', () => {
  it('writes once, keeps an identical file, and replaces a truncated one', async () => {
    const path = await ensureTinyModel(directory, { seed: 3 });
    expect(path).toBe(join(directory, tinyModelFileName({ seed: 3 })));
    const written = await stat(path);
    expect(await ensureTinyModel(directory, { seed: 3 })).toBe(path);
    expect((await stat(path)).mtimeMs).toBe(written.mtimeMs);

    await truncate(path, 1000);
    await ensureTinyModel(directory, { seed: 3 });
    expect(Buffer.from(await readFile(path)).equals(Buffer.from(buildTinyModel({ seed: 3 })))).toBe(true);
  });

  it('names files by their options', () => {
    expect(tinyModelFileName({ seed: 1 })).toBe(tinyModelFileName({}));
    expect(tinyModelFileName({ seed: 2 })).not.toBe(tinyModelFileName({ seed: 1 }));
    expect(tinyModelFileName({ variant: 'aborts-on-first-use' })).toMatch(
      /^tiny-aborts-on-first-use-[0-9a-f]{16}\.gguf$/,
    );
  });
});

describe('parseGenerateModelArguments', () => {
  it('parses a path and dimensions', () => {
    expect(
      parseGenerateModelArguments(['out.gguf', '--seed', '9', '--embedding-length', '512', '--blocks', '8']),
    ).toEqual({ help: false, outputPath: 'out.gguf', options: { seed: 9, embeddingLength: 512, blockCount: 8 } });
  });

  it.each([
    [[], 'Expected exactly one output path, got 0 (none)'],
    [['out.bin'], 'Expected the output path to end in .gguf, got `out.bin` (string)'],
    [['out.gguf', '--seed', 'x'], 'Expected `--seed` to be a non-negative integer, got `x` (string)'],
    [['out.gguf', '--heads', '5'], 'Expected `embeddingLength` (64) to be a multiple of `headCount` (5)'],
  ])('refuses %j', (argv, message) => {
    const error = caught(() => parseGenerateModelArguments(argv));
    expect(isClawError(error, 'CONFIG_INVALID')).toBe(true);
    expect((error as Error).message).toBe(message);
  });

  it('refuses unknown flags', () => {
    expect(
      isClawError(
        caught(() => parseGenerateModelArguments(['out.gguf', '--layers', '2'])),
        'CONFIG_INVALID',
      ),
    ).toBe(true);
  });
});
