import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connectAgent } from '@clawfleet/agent-connection';
import { EmbeddedBusClient } from '@clawfleet/bus-client';
import { IpcClient } from '@clawfleet/ipc';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

/**
 * `npm start` end to end: the orchestrator runs as its own process, exactly as `main.ts` starts it,
 * and a test agent uses it the way an agent will: database writes and subscriptions over the
 * embedded bus, streamed inference on the generated model, accounting written back to the database.
 */
const root = resolve(import.meta.dirname, '..');
let dataDirectory: string;
let orchestrator: ChildProcess;
let output = '';
let tokens: Record<string, string>;

function startOrchestrator(): Promise<void> {
  orchestrator = spawn(process.execPath, ['--import', 'tsx', join(root, 'packages/orchestrator/src/main.ts')], {
    cwd: root,
    env: {
      ...process.env,
      CLAW_DATA_DIR: dataDirectory,
      CLAW_LOG_FORMAT: 'json',
      CLAW_SLOTS: '2',
      CLAW_CONTEXT_SIZE: '512',
      // The bus and inference over the socket; supervised agents: test/agents.int.test.ts.
      CLAW_START_AGENTS: 'false',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolveReady, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes('"msg":"ready')) resolveReady();
    };
    orchestrator.stdout!.on('data', onData);
    orchestrator.stderr!.on('data', onData);
    orchestrator.once('exit', (code) => reject(new Error(`orchestrator exited with ${code}:\n${output}`)));
  });
}

beforeAll(async () => {
  dataDirectory = mkdtempSync(join(tmpdir(), 'claw-e2e-'));
  await startOrchestrator();
  tokens = JSON.parse(readFileSync(join(dataDirectory, 'tokens.json'), 'utf8')) as Record<string, string>;
});

afterAll(async () => {
  if (orchestrator.exitCode === null) {
    orchestrator.kill('SIGKILL');
    await new Promise((resolveExit) => orchestrator.once('exit', resolveExit));
  }
  rmSync(dataDirectory, { recursive: true, force: true });
});

describe('orchestrator (npm start)', () => {
  it('creates its data folder, socket and tokens file readable by the owner only', () => {
    expect(statSync(dataDirectory).mode & 0o777).toBe(0o700);
    expect(statSync(join(dataDirectory, 'run', 'orchestrator.sock')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dataDirectory, 'tokens.json')).mode & 0o777).toBe(0o600);
    expect(Object.keys(tokens).sort()).toEqual([
      'DevClaw',
      'LeadClaw',
      'OpsClaw',
      'ScribeClaw',
      'UXClaw',
      'cli',
      'orchestrator',
    ]);
    expect(output).not.toContain(tokens.LeadClaw);
  });

  it('loads the configured model while it starts, logging progress, before it reports ready', () => {
    const lines = output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { msg?: string; percent?: number; model?: string });
    const loaded = lines.findIndex((line) => line.msg === 'loading model' && line.percent === 100);
    const ready = lines.findIndex((line) => line.msg?.startsWith('ready') === true);
    expect(lines.some((line) => line.msg === 'loading model' && (line.percent ?? 100) < 100)).toBe(true);
    expect(loaded).toBeGreaterThanOrEqual(0);
    // Before models were loaded at start, the first request was the one that waited for the load.
    expect(loaded).toBeLessThan(ready);
  });

  it('serves the database and inference to an agent over one connection, and accounts for the tokens it used', async () => {
    const socketPath = join(dataDirectory, 'run', 'orchestrator.sock');
    const agent = await connectAgent({
      socketPath,
      name: 'LeadClaw',
      token: tokens.LeadClaw!,
      requestTimeoutMs: 60_000,
    });
    const { bus, inference } = agent;
    try {
      const agents = bus.subscribe(['SELECT * FROM agent']);
      await agents.ready;
      expect(bus.rows('agent').map((row) => row.name)).toEqual(
        expect.arrayContaining(['LeadClaw', 'DevClaw', 'UXClaw', 'OpsClaw', 'ScribeClaw']),
      );
      // Bus and inference share the connection: the agent is connected once.
      expect(bus.rows('agent').find((row) => row.name === 'LeadClaw')).toMatchObject({ online: true, connections: 1 });

      await bus.reducers.createTask({
        title: 'Write the release notes',
        description: 'for 0.1',
        priority: 5,
        depends_on: [],
        stimulus_id: null,
      });
      const tasks = bus.subscribe(['SELECT * FROM task']);
      await tasks.ready;
      expect(bus.rows('task').map((row) => row.title)).toContain('Write the release notes');

      const usage = bus.subscribe(['SELECT * FROM inference_usage']);
      await usage.ready;
      const deltas: string[] = [];
      const result = await inference.generate('Summarise the task list.', {
        prefix: 'You are LeadClaw.',
        maxTokens: 16,
        onDelta: (text) => deltas.push(text),
      });
      expect(result.tokensOut).toBeGreaterThan(0);
      expect(deltas.join('')).toBe(result.text);
      await vi.waitFor(() =>
        expect(bus.rows('inference_usage')).toContainEqual(
          expect.objectContaining({
            agent: 'LeadClaw',
            completion_tokens: result.tokensOut,
            method: 'generate',
            outcome: 'ok',
            request_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
          }),
        ),
      );
    } finally {
      await agent.dispose();
    }
  });

  it('refuses an agent with a wrong token and keeps serving the others', async () => {
    const socketPath = join(dataDirectory, 'run', 'orchestrator.sock');
    await expect(
      IpcClient.connect({ socketPath, agent: 'DevClaw', token: tokens.LeadClaw!, connectTimeoutMs: 2000 }),
    ).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    const dev = await EmbeddedBusClient.connect({ socketPath, name: 'DevClaw', token: tokens.DevClaw! });
    await dev.dispose();
  });

  it('stops cleanly on SIGTERM and removes its socket; a restart keeps the data and the tokens', async () => {
    const exited = new Promise<number | null>((resolveExit) => orchestrator.once('exit', (code) => resolveExit(code)));
    orchestrator.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(existsSync(join(dataDirectory, 'run', 'orchestrator.sock'))).toBe(false);

    output = '';
    await startOrchestrator();
    const again = JSON.parse(readFileSync(join(dataDirectory, 'tokens.json'), 'utf8')) as Record<string, string>;
    expect(again).toEqual(tokens);
    const bus = await EmbeddedBusClient.connect({
      socketPath: join(dataDirectory, 'run', 'orchestrator.sock'),
      name: 'ScribeClaw',
      token: tokens.ScribeClaw!,
    });
    try {
      const tasks = bus.subscribe(['SELECT * FROM task']);
      await tasks.ready;
      expect(bus.rows('task').map((row) => row.title)).toContain('Write the release notes');
    } finally {
      await bus.dispose();
    }
  });
});
