import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readOwnerTokenFile, writeOwnerTokenFile } from '../scripts/owner-token-file.ts';

let directory: string;
beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'claw-owner-token-'));
});
afterEach(() => rmSync(directory, { recursive: true, force: true }));

describe('the owner token file of db:publish --token-file', () => {
  it('is absent before the first publish, then holds the minted token for the next one (mode 0600)', async () => {
    const path = join(directory, 'owner-token');
    expect(await readOwnerTokenFile(path)).toBeUndefined();
    await writeOwnerTokenFile(path, 'eyJhbGciOiJFUzI1NiJ9.payload.signature');
    expect(await readOwnerTokenFile(path)).toBe('eyJhbGciOiJFUzI1NiJ9.payload.signature');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, 'utf8')).toBe('eyJhbGciOiJFUzI1NiJ9.payload.signature\n');
  });

  it('refuses an empty or garbled file with CONFIG_INVALID naming it, rather than publishing as a new owner', async () => {
    const path = join(directory, 'owner-token');
    writeFileSync(path, '\n');
    await expect(readOwnerTokenFile(path)).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringMatching(/owner-token \(--token-file\) does not hold a token \(it is empty\)/),
    });
    writeFileSync(path, 'two words\n');
    await expect(readOwnerTokenFile(path)).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });

  it('names the file when it cannot be read or written', async () => {
    await expect(readOwnerTokenFile(directory)).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining(`Cannot read the owner token file ${directory}`),
    });
    await expect(writeOwnerTokenFile(join(directory, 'missing', 'owner-token'), 'token')).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining('missing/owner-token (--token-file)'),
    });
  });
});
