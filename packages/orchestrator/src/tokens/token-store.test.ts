import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClawError } from '@clawfleet/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadOrCreateTokens, writeAgentTokenFiles } from './token-store.ts';

let directory: string;
beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'claw-tokens-'));
});
afterEach(() => {
  chmodSync(directory, 0o700);
  rmSync(directory, { recursive: true, force: true });
});

describe('writeAgentTokenFiles', () => {
  it('gives each agent a folder holding only its own token, readable by the owner only', async () => {
    const tokens = await loadOrCreateTokens(join(directory, 'tokens.json'), ['cli', 'DevClaw', 'OpsClaw']);
    const folder = join(directory, 'agent-tokens');
    // compose mounts each agent's own volume here; the folder may already exist (an empty volume).
    mkdirSync(join(folder, 'DevClaw'), { recursive: true });

    const written = await writeAgentTokenFiles(folder, tokens, ['DevClaw', 'OpsClaw']);

    expect(written).toEqual([join(folder, 'DevClaw', 'token'), join(folder, 'OpsClaw', 'token')]);
    expect(readFileSync(join(folder, 'DevClaw', 'token'), 'utf8').trim()).toBe(tokens.DevClaw);
    expect(readFileSync(join(folder, 'OpsClaw', 'token'), 'utf8').trim()).toBe(tokens.OpsClaw);
    expect(readdirSync(folder).sort()).toEqual(['DevClaw', 'OpsClaw']);
    expect(readdirSync(join(folder, 'OpsClaw'))).toEqual(['token']);
    expect(statSync(join(folder, 'OpsClaw', 'token')).mode & 0o777).toBe(0o600);
    expect(statSync(join(folder, 'OpsClaw')).mode & 0o777).toBe(0o700);
  });

  it('replaces a token that was rotated in the tokens file', async () => {
    const folder = join(directory, 'agent-tokens');
    await writeAgentTokenFiles(folder, { DevClaw: 'a'.repeat(64) }, ['DevClaw']);
    await writeAgentTokenFiles(folder, { DevClaw: 'b'.repeat(64) }, ['DevClaw']);
    expect(readFileSync(join(folder, 'DevClaw', 'token'), 'utf8')).toBe(`${'b'.repeat(64)}\n`);
    expect(readdirSync(join(folder, 'DevClaw'))).toEqual(['token']);
  });

  it('refuses with CONFIG_INVALID naming the file and CLAW_AGENT_TOKENS_DIR when it cannot write', async () => {
    const blocker = join(directory, 'not-a-folder');
    writeFileSync(blocker, 'a file where the folder should be');
    const failure = await writeAgentTokenFiles(blocker, { DevClaw: 'a'.repeat(64) }, ['DevClaw']).catch(
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(ClawError);
    expect((failure as ClawError).code).toBe('CONFIG_INVALID');
    expect((failure as ClawError).message).toMatch(/DevClaw.*not-a-folder\/DevClaw\/token.*CLAW_AGENT_TOKENS_DIR/);
  });

  it('refuses an agent that has no token instead of writing an empty file', async () => {
    const folder = join(directory, 'agent-tokens');
    await expect(writeAgentTokenFiles(folder, {}, ['DevClaw'])).rejects.toMatchObject({ code: 'INTERNAL' });
  });
});
