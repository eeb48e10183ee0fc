import { isClawError } from '@clawfleet/protocol';
import { describe, expect, it } from 'vitest';
import { readHostConfig } from './host-config.ts';

const tokens = '{"orchestrator":"admin-secret"}';

function configError(argv: string[], env: Record<string, string> = {}): Error {
  try {
    readHostConfig(argv, env);
  } catch (error) {
    expect(isClawError(error, 'CONFIG_INVALID')).toBe(true);
    return error as Error;
  }
  throw new Error('Expected CONFIG_INVALID');
}

describe('readHostConfig', () => {
  it('reads argv, taking tokens from the environment when not given', () => {
    const config = readHostConfig(['--database', 'bus.sqlite', '--socket', '/tmp/s.sock'], {
      CLAW_BUS_TOKENS: tokens,
    });
    expect(config).toEqual({
      databasePath: 'bus.sqlite',
      socketPath: '/tmp/s.sock',
      tokens: { orchestrator: 'admin-secret' },
      verbose: false,
      deprecations: [],
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('still reads the old CLAWFLEET_BUS_TOKENS, with a deprecation naming the new variable', () => {
    const config = readHostConfig(['--database', 'd', '--socket', 's'], { CLAWFLEET_BUS_TOKENS: tokens });
    expect(config.tokens).toEqual({ orchestrator: 'admin-secret' });
    expect(config.deprecations).toEqual(['CLAWFLEET_BUS_TOKENS is deprecated: rename it to CLAW_BUS_TOKENS']);
    const both = readHostConfig(['--database', 'd', '--socket', 's'], {
      CLAW_BUS_TOKENS: tokens,
      CLAWFLEET_BUS_TOKENS: '{"orchestrator":"other-secret"}',
    });
    expect(both.tokens).toEqual({ orchestrator: 'admin-secret' });
  });

  it('names the option and the env var in each refusal', () => {
    expect(configError(['--socket', 's']).message).toContain('--database');
    expect(configError(['--database', 'd', '--socket']).message).toContain('Expected a value after `--socket`');
    expect(configError(['--database', 'd', '--socket', 's', '--port', '1']).message).toContain(
      'Unknown argument `--port`',
    );
    expect(configError(['--database', 'd', '--socket', 's']).message).toContain('CLAW_BUS_TOKENS');
    expect(configError(['--database', 'd', '--socket', 's', '--tokens', '{nope']).message).toContain('JSON');
    expect(configError(['--database', 'd', '--socket', 's', '--tokens', '{"orchestrator":"short"}']).message).toContain(
      'orchestrator',
    );
    expect(
      configError(['--database', 'd', '--socket', 's', '--tokens', '{"bad name":"long-enough-token"}']).message,
    ).toContain('bad name');
  });
});
