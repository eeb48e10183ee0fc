import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { currentBuild } from '../../bin/current-build.js';

/**
 * Which code `claw` runs (bin/claw.js): the bundles while they are current, the sources otherwise,
 * so an edited source is never hidden behind an old build.
 */
let root: string;
const SOURCES = ['packages/cli/src/main.ts', 'packages/protocol/src/index.ts'];
const BUILT_AT = Date.parse('2026-12-01T12:00:00Z');
const before = new Date(BUILT_AT - 60_000);
const after = new Date(BUILT_AT + 60_000);

function writeSource(path: string, modified: Date): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), 'export {};\n');
  utimesSync(join(root, path), modified, modified);
}

function writeManifest(manifest: unknown): void {
  mkdirSync(join(root, 'dist/runtime'), { recursive: true });
  writeFileSync(join(root, 'dist/runtime/manifest.json'), JSON.stringify(manifest));
}

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'claw-build-'));
  for (const source of SOURCES) writeSource(source, before);
  writeManifest({ builtAt: BUILT_AT, inputs: SOURCES, outputs: ['claw.js'] });
});

afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('currentBuild', () => {
  it('runs the build when no source changed since it was made', () => {
    expect(currentBuild(root, {})).toBe(join(root, 'dist/runtime'));
  });

  it('runs the sources once any of them is newer than the build', () => {
    writeSource(SOURCES[1]!, after);
    expect(currentBuild(root, {})).toBeUndefined();
  });

  it('runs the sources when one the build was made from is gone', () => {
    rmSync(join(root, SOURCES[0]!));
    expect(currentBuild(root, {})).toBeUndefined();
  });

  it('runs the build where there are no sources at all (an image holding only the bundles)', () => {
    rmSync(join(root, 'packages'), { recursive: true });
    expect(currentBuild(root, {})).toBe(join(root, 'dist/runtime'));
  });

  it('runs the sources without a build, with a manifest it cannot read, or when CLAW_FROM_SOURCE=1', () => {
    expect(currentBuild(root, { CLAW_FROM_SOURCE: '1' })).toBeUndefined();
    writeManifest({ inputs: SOURCES });
    expect(currentBuild(root, {})).toBeUndefined();
    writeFileSync(join(root, 'dist/runtime/manifest.json'), '{"builtAt": 1, "inp');
    expect(currentBuild(root, {})).toBeUndefined();
    rmSync(join(root, 'dist'), { recursive: true });
    expect(currentBuild(root, {})).toBeUndefined();
  });
});
