import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAgentProcessConfig } from './config.ts';

const base = { CLAW_AGENT_NAME: 'DevClaw', CLAW_AGENT_TOKEN: 'secret', CLAW_SOCKET: 'run/o.sock' };

describe('agent process config', () => {
  it('reads the environment once into a frozen, resolved config', () => {
    const config = loadAgentProcessConfig(base, { cwd: '/srv/claw' });
    expect(config).toMatchObject({
      agentName: 'DevClaw',
      token: 'secret',
      socketPath: '/srv/claw/run/o.sock',
      workspaceDirectory: '/srv/claw/.data/workspaces/DevClaw',
      sharedWorkspaceDirectory: '/srv/claw/.data/workspaces/shared',
      logFormat: 'json',
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('takes the token from a file (a container secret)', () => {
    const directory = mkdtempSync(join(tmpdir(), 'clawfleet-agent-config-'));
    try {
      writeFileSync(join(directory, 'token'), 'from-file\n');
      const config = loadAgentProcessConfig(
        { CLAW_AGENT_NAME: 'DevClaw', CLAW_AGENT_TOKEN_FILE: 'token', CLAW_SOCKET: 's' },
        { cwd: directory },
      );
      expect(config.token).toBe('from-file');
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('names the option and its variable when one is missing or wrong', () => {
    expect(() => loadAgentProcessConfig({ ...base, CLAW_AGENT_NAME: undefined })).toThrow(
      'Invalid option `agentName` (env CLAW_AGENT_NAME): required, not set',
    );
    expect(() => loadAgentProcessConfig({ ...base, CLAW_AGENT_NAME: '../etc' })).toThrow(
      /env CLAW_AGENT_NAME.*`..\/etc`/,
    );
    expect(() => loadAgentProcessConfig({ ...base, CLAW_AGENT_TOKEN: '' })).toThrow(/`token` \(env CLAW_AGENT_TOKEN\)/);
    expect(() => loadAgentProcessConfig({ ...base, CLAW_LOG_LEVEL: 'loud' })).toThrow(
      /`logLevel` \(env CLAW_LOG_LEVEL\)/,
    );
  });

  it('takes the task lease from CLAW_TASK_LEASE_SECONDS (default 300) and refuses one that is not 2-86400', () => {
    expect(loadAgentProcessConfig(base).taskLeaseSeconds).toBe(300);
    expect(loadAgentProcessConfig({ ...base, CLAW_TASK_LEASE_SECONDS: '5' }).taskLeaseSeconds).toBe(5);
    for (const bad of ['1', '5.5', 'soon', '100000']) {
      expect(() => loadAgentProcessConfig({ ...base, CLAW_TASK_LEASE_SECONDS: bad })).toThrow(
        /`taskLeaseSeconds` \(env CLAW_TASK_LEASE_SECONDS\)/,
      );
    }
  });

  it('heartbeats every CLAW_AGENT_HEARTBEAT_SECONDS (default 10) and refuses one that is not 1-300', () => {
    expect(loadAgentProcessConfig(base).heartbeatSeconds).toBe(10);
    expect(loadAgentProcessConfig({ ...base, CLAW_AGENT_HEARTBEAT_SECONDS: '2' }).heartbeatSeconds).toBe(2);
    for (const bad of ['0', '0.5', 'often', '301']) {
      expect(() => loadAgentProcessConfig({ ...base, CLAW_AGENT_HEARTBEAT_SECONDS: bad })).toThrow(
        /`heartbeatSeconds` \(env CLAW_AGENT_HEARTBEAT_SECONDS\): expected an integer 1-300/,
      );
    }
  });
});
