/**
 * The publisher's owner token kept in a file (`db:publish --token-file`): the first publish mints an
 * identity and writes its token there (mode 0600); every later publish reads it, so a one-shot
 * container that publishes at each `docker compose up` stays the database's owner.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { ClawError } from '@clawfleet/protocol';

const TOKEN = /^[\x21-\x7e]+$/;

/** The token in `path`; undefined when the file does not exist yet (the first publish). */
export async function readOwnerTokenFile(path: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ClawError(
      'CONFIG_INVALID',
      `Cannot read the owner token file ${path} (--token-file): ${(error as Error).message}`,
      {
        details: { option: 'token-file', path },
      },
    );
  }
  const token = text.trim();
  if (!TOKEN.test(token)) {
    throw new ClawError(
      'CONFIG_INVALID',
      `The owner token file ${path} (--token-file) does not hold a token (${token.length === 0 ? 'it is empty' : 'it has spaces or control characters'}); restore it from a backup, or delete it to publish as a new owner (a new owner cannot update an existing database: publish with --clear, or use another --database)`,
      { details: { option: 'token-file', path } },
    );
  }
  return token;
}

/** Writes `token` to `path` (mode 0600), replacing the file atomically. */
export async function writeOwnerTokenFile(path: string, token: string): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(temporary, `${token}\n`, { mode: 0o600 });
    await rename(temporary, path);
  } catch (error) {
    throw new ClawError(
      'CONFIG_INVALID',
      `Cannot write the owner token file ${path} (--token-file): ${(error as Error).message}`,
      {
        details: { option: 'token-file', path },
      },
    );
  }
}
