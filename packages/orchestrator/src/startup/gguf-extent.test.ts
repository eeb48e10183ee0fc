import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildTinyModel } from '@clawfleet/tiny-model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ggufRequiredBytes } from './gguf-extent.ts';

let directory: string;
let model: Uint8Array;
beforeAll(() => {
  directory = mkdtempSync(join(tmpdir(), 'claw-gguf-'));
  model = buildTinyModel();
});
afterAll(() => rmSync(directory, { recursive: true, force: true }));

function file(name: string, bytes: Uint8Array): string {
  const path = join(directory, name);
  writeFileSync(path, bytes);
  return path;
}

describe('ggufRequiredBytes', () => {
  it('finds that a complete model holds exactly what its tensor table declares', () => {
    const extent = ggufRequiredBytes(file('whole.gguf', model));
    expect(extent.requiredBytes).toBe(model.length);
    expect(extent.fileBytes).toBe(model.length);
    expect(extent.tensors).toBeGreaterThan(0);
  });

  it('finds a model cut inside its tensor data', () => {
    const extent = ggufRequiredBytes(file('cut.gguf', model.subarray(0, Math.floor(model.length * 0.7))));
    expect(extent.fileBytes).toBeLessThan(extent.requiredBytes);
    expect(extent.requiredBytes).toBe(model.length);
  });

  it('refuses a model cut inside its header, and bytes that are not GGUF', () => {
    expect(() => ggufRequiredBytes(file('head.gguf', model.subarray(0, 100)))).toThrow(/ends inside its header/);
    expect(() => ggufRequiredBytes(file('text.gguf', Buffer.from('not a model at all')))).toThrow(/not a GGUF file/);
  });
});
