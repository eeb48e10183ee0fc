import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ClawError, identityNameSchema } from '@clawfleet/protocol';
import { z } from 'zod';

const tokensFileSchema = z.record(
  identityNameSchema,
  z.string().regex(/^[0-9a-f]{64}$/, 'a token is 64 hex characters'),
);

/**
 * Loads the per-identity tokens file, adding a fresh random token (256 bits) for every name that
 * has none, and writes it back with mode 0600. Tokens already in the file are kept, so agents and
 * the CLI keep working across restarts; delete a line to revoke and rotate that token.
 */
export async function loadOrCreateTokens(path: string, names: readonly string[]): Promise<Record<string, string>> {
  let tokens: Record<string, string> = {};
  let text: string | undefined;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new ClawError('CONFIG_INVALID', `Cannot read the tokens file ${path}: ${(error as Error).message}`);
    }
  }
  if (text !== undefined) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new ClawError('CONFIG_INVALID', `The tokens file ${path} is not valid JSON: ${(error as Error).message}`);
    }
    const parsed = tokensFileSchema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ClawError(
        'CONFIG_INVALID',
        `The tokens file ${path} is invalid at \`${issue?.path.join('.') || 'root'}\`: ${issue?.message}`,
      );
    }
    tokens = parsed.data;
  }
  const missing = names.filter((name) => tokens[name] === undefined);
  if (missing.length > 0 || text === undefined) {
    for (const name of missing) tokens[name] = randomBytes(32).toString('hex');
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const temporary = `${path}.${process.pid}.tmp`;
    await writeFile(temporary, `${JSON.stringify(tokens, null, 2)}\n`, { mode: 0o600 });
    await rename(temporary, path);
  }
  // An existing file may have been created with wider permissions by hand.
  await chmod(path, 0o600);
  return tokens;
}

/**
 * Writes each agent's token to `<directory>/<agent>/token` (mode 0600), for agents this
 * orchestrator does not start itself: compose runs each agent as its own service and mounts only
 * that agent's folder into it (read-only, `CLAW_AGENT_TOKEN_FILE`), so an agent can read its own
 * token and no one else's. A folder that does not exist is created 0700; a file is replaced
 * atomically, so an agent never reads half a token, and a rotated token reaches it at the next start.
 */
export async function writeAgentTokenFiles(
  directory: string,
  tokens: Readonly<Record<string, string>>,
  agents: readonly string[],
): Promise<string[]> {
  const written: string[] = [];
  for (const agent of agents) {
    const token = tokens[agent];
    if (token === undefined) throw new ClawError('INTERNAL', `No token for agent ${agent}`);
    const folder = join(directory, agent);
    const path = join(folder, 'token');
    try {
      await mkdir(folder, { recursive: true, mode: 0o700 });
      const temporary = join(folder, `.token.${process.pid}.tmp`);
      await writeFile(temporary, `${token}\n`, { mode: 0o600 });
      await rename(temporary, path);
    } catch (error) {
      throw new ClawError(
        'CONFIG_INVALID',
        `Cannot write agent ${agent}'s token file ${path} (CLAW_AGENT_TOKENS_DIR): ${(error as Error).message}`,
        { details: { option: 'agentTokensDirectory', path }, cause: error },
      );
    }
    written.push(path);
  }
  return written;
}
