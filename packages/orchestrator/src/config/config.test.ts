import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_AGENTS, GENERATED_MODEL, loadConfig } from './config.ts';

let directory: string;
beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'claw-config-'));
});
afterEach(() => rmSync(directory, { recursive: true, force: true }));

describe('loadConfig', () => {
  it('gives a working one-machine setup with no file and no environment', () => {
    const config = loadConfig({}, directory);
    expect(config.dataDirectory).toBe(join(directory, '.data'));
    expect(config.socketPath).toBe(join(directory, '.data', 'run', 'orchestrator.sock'));
    expect(config.models).toEqual([
      { id: 'default', path: GENERATED_MODEL, contextSize: 8192, slots: 4, gpuLayers: 'auto' },
    ]);
    expect(Object.keys(config.agents)).toEqual([...DEFAULT_AGENTS]);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.models[0])).toBe(true);
  });

  it('runs agents as processes unless the docker runtime is asked for, with its image and limits', () => {
    const plain = loadConfig({}, directory);
    expect(plain.runtime).toBe('process');
    expect(plain.docker).toMatchObject({ image: 'clawfleet/agent', memoryBytes: 512 * 1024 ** 2, pids: 256 });
    writeFileSync(join(directory, 'clawfleet.config.json'), JSON.stringify({ runtime: 'docker', agentPids: 64 }));
    const docker = loadConfig(
      { CLAW_AGENT_IMAGE: 'registry.local/claw/agent:1.2', CLAW_AGENT_MEMORY_MB: '256', CLAW_AGENT_USER: '1000:1000' },
      directory,
    );
    expect(docker.runtime).toBe('docker');
    expect(docker.docker).toMatchObject({
      image: 'registry.local/claw/agent:1.2',
      memoryBytes: 256 * 1024 ** 2,
      pids: 64,
      user: '1000:1000',
      host: 'unix:///var/run/docker.sock',
    });
    // One data directory, one stack name, the same at every start; another directory, another name.
    expect(docker.docker.stack).toBe(loadConfig({}, directory).docker.stack);
    expect(docker.docker.stack).not.toBe(loadConfig({ CLAW_DATA_DIR: 'elsewhere' }, directory).docker.stack);
    expect(docker.docker.stack).toMatch(/^[a-z0-9][a-z0-9_.-]{0,39}$/);
  });

  it('refuses an unknown runtime, a root agent user and a remote Docker host, naming the variable', () => {
    expect(() => loadConfig({ CLAW_RUNTIME: 'podman' }, directory)).toThrow(
      /`runtime` \(set by env CLAW_RUNTIME\).*`process` or `docker`, got `podman`/,
    );
    expect(() => loadConfig({ CLAW_AGENT_USER: '0:0' }, directory)).toThrow(/CLAW_AGENT_USER.*never run as root/);
    expect(() => loadConfig({ DOCKER_HOST: 'tcp://10.0.0.1:2375' }, directory)).toThrow(/DOCKER_HOST.*Unix socket/);
    expect(() => loadConfig({ CLAW_AGENT_MEMORY_MB: '1' }, directory)).toThrow(/CLAW_AGENT_MEMORY_MB/);
  });

  it('detects stalls after 6 missed 10 s heartbeats or 30 s offline, past a 60 s start-up grace; each can be set', () => {
    expect(loadConfig({}, directory).agentStall).toEqual({
      heartbeatSeconds: 10,
      missedHeartbeats: 6,
      offlineSeconds: 30,
      startGraceSeconds: 60,
    });
    writeFileSync(
      join(directory, 'clawfleet.config.json'),
      JSON.stringify({ agentHeartbeatSeconds: 5, agentStallHeartbeats: 4 }),
    );
    expect(
      loadConfig(
        { CLAW_AGENT_OFFLINE_SECONDS: '45', CLAW_AGENT_START_GRACE_SECONDS: '0', CLAW_AGENT_STALL_HEARTBEATS: '8' },
        directory,
      ).agentStall,
    ).toEqual({ heartbeatSeconds: 5, missedHeartbeats: 8, offlineSeconds: 45, startGraceSeconds: 0 });
    // One missed heartbeat is a scheduling hiccup, not a stall.
    expect(() => loadConfig({ CLAW_AGENT_STALL_HEARTBEATS: '1' }, directory)).toThrow(
      /`agentStallHeartbeats` \(set by env CLAW_AGENT_STALL_HEARTBEATS.*2-1000, got `1`/,
    );
    expect(() => loadConfig({ CLAW_AGENT_HEARTBEAT_SECONDS: '0.5' }, directory)).toThrow(
      /CLAW_AGENT_HEARTBEAT_SECONDS/,
    );
    expect(() => loadConfig({ CLAW_AGENT_OFFLINE_SECONDS: 'soon' }, directory)).toThrow(/CLAW_AGENT_OFFLINE_SECONDS/);
  });

  it('lets environment variables override the config file', () => {
    writeFileSync(join(directory, 'clawfleet.config.json'), JSON.stringify({ threads: 3, logLevel: 'debug' }));
    const config = loadConfig({ CLAW_THREADS: '7', CLAW_MODEL_PATH: 'models/m.gguf', CLAW_GPU: 'false' }, directory);
    expect(config.threads).toBe(7);
    expect(config.logLevel).toBe('debug');
    expect(config.gpu).toBe(false);
    expect(config.models[0]!.path).toBe(join(directory, 'models/m.gguf'));
    expect(config.configFile).toBe(join(directory, 'clawfleet.config.json'));
  });

  it('names the option and the environment variable when a value is wrong', () => {
    expect(() => loadConfig({ CLAW_THREADS: 'many' }, directory)).toThrow(/`threads` \(set by env CLAW_THREADS\)/);
    expect(() => loadConfig({ CLAW_SLOTS: '0' }, directory)).toThrow(/`models\.0\.slots` \(set by env CLAW_SLOTS\)/);
    expect(() => loadConfig({ CLAW_LOG_LEVEL: 'loud' }, directory)).toThrow(/CLAW_LOG_LEVEL/);
  });

  it('refuses an unreadable, non-JSON or unknown-key config file with its path', () => {
    expect(() => loadConfig({ CLAW_CONFIG: 'missing.json' }, directory)).toThrow(/missing\.json \(from CLAW_CONFIG\)/);
    writeFileSync(join(directory, 'bad.json'), '{ nope');
    expect(() => loadConfig({ CLAW_CONFIG: 'bad.json' }, directory)).toThrow(/not valid JSON/);
    writeFileSync(join(directory, 'typo.json'), JSON.stringify({ treads: 2 }));
    expect(() => loadConfig({ CLAW_CONFIG: 'typo.json' }, directory)).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
  });

  it('refuses an agent that uses a model the config does not define', () => {
    writeFileSync(
      join(directory, 'clawfleet.config.json'),
      JSON.stringify({ agents: { LeadClaw: { modelId: 'big', sampling: { maxTokens: 10 } } } }),
    );
    expect(() => loadConfig({}, directory)).toThrow(/Agent `LeadClaw` uses model `big`/);
  });

  it('accepts `gpu: "cpu"` in the config file as documented, meaning no GPU', () => {
    writeFileSync(join(directory, 'clawfleet.config.json'), JSON.stringify({ gpu: 'cpu' }));
    expect(loadConfig({}, directory).gpu).toBe(false);
    expect(loadConfig({ CLAW_GPU: 'cpu' }, directory).gpu).toBe(false);
    expect(() => loadConfig({ CLAW_GPU: 'metal' }, directory)).toThrow(/`gpu`.*got `metal`/);
  });

  it('calls a number a number when it is out of range or not an integer', () => {
    expect(() => loadConfig({ CLAW_SLOTS: '-5' }, directory)).toThrow(/integer 1-64, got `-5` \(number\)/);
    expect(() => loadConfig({ CLAW_THREADS: '1.5' }, directory)).toThrow(/`threads` .*got `1\.5` \(number\)/);
    expect(() => loadConfig({ CLAW_DRAIN_TIMEOUT_MS: '-1' }, directory)).toThrow(
      /CLAW_DRAIN_TIMEOUT_MS.*got `-1` \(number\)/,
    );
  });

  it('takes the drain time from the file or the environment', () => {
    expect(loadConfig({}, directory).drainTimeoutMs).toBe(10_000);
    writeFileSync(join(directory, 'clawfleet.config.json'), JSON.stringify({ drainTimeoutMs: 2500 }));
    expect(loadConfig({}, directory).drainTimeoutMs).toBe(2500);
    expect(loadConfig({ CLAW_DRAIN_TIMEOUT_MS: '0' }, directory).drainTimeoutMs).toBe(0);
  });

  it('takes the per-agent inference queue limit from the file or the environment', () => {
    expect(loadConfig({}, directory).maxQueuedPerAgent).toBe(256);
    writeFileSync(join(directory, 'clawfleet.config.json'), JSON.stringify({ maxQueuedPerAgent: 64 }));
    expect(loadConfig({}, directory).maxQueuedPerAgent).toBe(64);
    expect(loadConfig({ CLAW_MAX_QUEUED_PER_AGENT: '32' }, directory).maxQueuedPerAgent).toBe(32);
    expect(() => loadConfig({ CLAW_MAX_QUEUED_PER_AGENT: '0' }, directory)).toThrow(
      /CLAW_MAX_QUEUED_PER_AGENT.*got `0` \(number\)/,
    );
  });

  it('keeps prompts of recorded inference 30 days by default; days, forever or hash-only can be set', () => {
    expect(loadConfig({}, directory).promptRetention).toBe(30);
    expect(loadConfig({ CLAW_PROMPT_RETENTION: '7' }, directory).promptRetention).toBe(7);
    expect(loadConfig({ CLAW_PROMPT_RETENTION: 'hash-only' }, directory).promptRetention).toBe('hash-only');
    writeFileSync(join(directory, 'clawfleet.config.json'), JSON.stringify({ promptRetention: 'forever' }));
    expect(loadConfig({}, directory).promptRetention).toBe('forever');
    expect(() => loadConfig({ CLAW_PROMPT_RETENTION: '0' }, directory)).toThrow(
      /`promptRetention` \(set by env CLAW_PROMPT_RETENTION.*integer 1-36500, got `0` \(number\)/,
    );
    expect(() => loadConfig({ CLAW_PROMPT_RETENTION: 'keep' }, directory)).toThrow(
      /forever` or `hash-only`, got `keep` \(string\)/,
    );
  });

  it('starts the agents by default, in a workspace under the data directory, giving them only PATH', () => {
    const config = loadConfig({ PATH: '/opt/bin:/usr/bin', HOME: '/root' }, directory);
    expect(config.startAgents).toBe(true);
    expect(config.workspaceDirectory).toBe(join(directory, '.data', 'workspace'));
    expect(config.agentSearchPath).toBe('/opt/bin:/usr/bin');
    expect(config.agentEntry).toMatch(/packages\/agent-runtime\/src\/agent-main\.ts$/);
    expect(loadConfig({ CLAW_START_AGENTS: 'false', CLAW_WORKSPACE_DIR: 'ws' }, directory)).toMatchObject({
      startAgents: false,
      workspaceDirectory: join(directory, 'ws'),
    });
    expect(() => loadConfig({ CLAW_START_AGENTS: 'maybe' }, directory)).toThrow(
      /`startAgents` \(set by env CLAW_START_AGENTS\).*got `maybe`/,
    );
  });

  it('writes agent token files only when CLAW_AGENT_TOKENS_DIR names a folder (agents started by compose)', () => {
    expect(loadConfig({}, directory).agentTokensDirectory).toBeUndefined();
    expect(loadConfig({ CLAW_AGENT_TOKENS_DIR: 'run/tokens' }, directory).agentTokensDirectory).toBe(
      join(directory, 'run', 'tokens'),
    );
    expect(loadConfig({ CLAW_AGENT_TOKENS_DIR: '/run/clawfleet/agent-tokens' }, directory).agentTokensDirectory).toBe(
      '/run/clawfleet/agent-tokens',
    );
  });

  it('serves HTTP on 127.0.0.1:8470 by default; host and port (0 for any free one, off for none) can be set', () => {
    const defaults = loadConfig({}, directory);
    expect([defaults.httpHost, defaults.httpPort, defaults.httpPortConfigured]).toEqual(['127.0.0.1', 8470, false]);
    const set = loadConfig({ CLAW_HTTP_HOST: '0.0.0.0', CLAW_HTTP_PORT: '9000' }, directory);
    expect([set.httpHost, set.httpPort, set.httpPortConfigured]).toEqual(['0.0.0.0', 9000, true]);
    expect(loadConfig({ CLAW_HTTP_PORT: '0' }, directory).httpPort).toBe(0);
    expect(loadConfig({ CLAW_HTTP_PORT: 'OFF' }, directory).httpPort).toBe('off');
    writeFileSync(join(directory, 'clawfleet.config.json'), JSON.stringify({ httpPort: 'off' }));
    expect(loadConfig({}, directory).httpPort).toBe('off');
    expect(() => loadConfig({ CLAW_HTTP_PORT: '70000' }, directory)).toThrow(
      /`httpPort` \(set by env CLAW_HTTP_PORT or config file .*\): Expected `httpPort` to be an integer 0-65535 or `off`, got `70000` \(number\)/,
    );
    expect(() => loadConfig({ CLAW_HTTP_PORT: 'web' }, directory)).toThrow(/CLAW_HTTP_PORT/);
  });
});
