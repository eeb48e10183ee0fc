import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { preparePrivateDataDirectory, preparePrivateFiles } from './data-directory.ts';

let scratch: string;
beforeEach(() => {
  scratch = mkdtempSync(join(tmpdir(), 'claw-data-'));
});
afterEach(() => rmSync(scratch, { recursive: true, force: true }));

const mode = (path: string) => statSync(path).mode & 0o777;

describe('private data directory', () => {
  it('creates the folder, models and database owner-only', () => {
    const dataDirectory = join(scratch, 'new');
    preparePrivateDataDirectory(dataDirectory);
    const layout = {
      dataDirectory,
      databasePath: join(dataDirectory, 'bus.sqlite'),
      generatedModelsDirectory: join(dataDirectory, 'models'),
    };
    preparePrivateFiles(layout);
    expect([mode(dataDirectory), mode(layout.generatedModelsDirectory), mode(layout.databasePath)]).toEqual([
      0o700, 0o700, 0o600,
    ]);
  });

  it('narrows an existing folder, database, WAL and models that others could read, and says which', () => {
    const dataDirectory = join(scratch, 'old');
    mkdirSync(join(dataDirectory, 'models'), { recursive: true });
    chmodSync(dataDirectory, 0o755);
    chmodSync(join(dataDirectory, 'models'), 0o755);
    for (const name of ['bus.sqlite', 'bus.sqlite-wal', 'bus.sqlite-shm']) {
      writeFileSync(join(dataDirectory, name), '');
      chmodSync(join(dataDirectory, name), 0o644);
    }
    const layout = {
      dataDirectory,
      databasePath: join(dataDirectory, 'bus.sqlite'),
      generatedModelsDirectory: join(dataDirectory, 'models'),
    };
    const narrowed = [...preparePrivateDataDirectory(dataDirectory).narrowed, ...preparePrivateFiles(layout).narrowed];
    expect(narrowed).toHaveLength(5);
    expect(narrowed[0]).toBe(`${dataDirectory} (was 0755)`);
    expect(mode(dataDirectory)).toBe(0o700);
    expect(mode(join(dataDirectory, 'models'))).toBe(0o700);
    for (const name of ['bus.sqlite', 'bus.sqlite-wal', 'bus.sqlite-shm'])
      expect(mode(join(dataDirectory, name))).toBe(0o600);
  });

  it('refuses a data directory that is a file, with exit 73', () => {
    const file = join(scratch, 'file');
    writeFileSync(file, '');
    expect(() => preparePrivateDataDirectory(file)).toThrow(expect.objectContaining({ exitCode: 73 }));
  });
});
