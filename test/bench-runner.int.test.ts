import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');

function bench(...args: string[]) {
  return spawnSync(process.execPath, ['--import', 'tsx', join(root, 'bench/run.ts'), ...args], {
    cwd: root,
    encoding: 'utf8',
  });
}

describe('npm run bench', () => {
  it('prints the usage and the benchmarks, and fails, when no benchmark is named', () => {
    const result = bench();
    expect(result.stderr).toMatch(/Usage: npm run bench -- <name>/);
    expect(result.stderr).toMatch(/Benchmarks: .*ipc/);
    expect(result.status).toBe(2);
  });

  it('fails naming the benchmarks when the name is unknown', () => {
    const result = bench('nope');
    expect(result.stderr).toMatch(/Unknown benchmark `nope`/);
    expect(result.status).toBe(2);
  });
});
