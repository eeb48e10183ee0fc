import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type BusClient, type BusRow, type BusTableName, EmbeddedBusClient } from '@clawfleet/bus-client';
import { type GenerateRequest, loadConfig, Orchestrator } from '@clawfleet/orchestrator';
import { ScriptedInferenceLayer } from '@clawfleet/orchestrator/testing';
import { silentLogger } from '@clawfleet/protocol';
import { writeTinyModel } from '@clawfleet/tiny-model';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Stall detection with a real agent process that stalls for real: the real orchestrator supervises
 * one real agent (agent-main.ts) heartbeating every second; the test freezes it with SIGSTOP (its
 * process stays up, its event loop stops), and the supervisor must stop it (SIGTERM, which a stopped
 * process cannot act on, then SIGKILL), start a fresh one, and that one must handle a stimulus.
 * Triage of the `[stall-probe]` stimuli is scripted (`ignore`), so a cycle ends quickly on every run.
 */
let scratch: string;
let orchestrator: Orchestrator;
let admin: BusClient;
const frozen: number[] = [];
const agentLines: string[] = [];

const rows = (table: BusTableName) => admin.rows(table) as unknown as BusRow[];

/** Set while a `[stall-hold]` triage call is held; calling it answers the call. */
let releaseHeld: (() => void) | undefined;

function script(request: GenerateRequest): string | undefined | Promise<string> {
  const properties = (request.jsonSchema as { properties?: Record<string, unknown> } | undefined)?.properties;
  if (properties === undefined || !('decision' in properties)) return undefined;
  if (request.prompt.includes('[stall-hold]')) {
    return new Promise<string>((resolve) => {
      releaseHeld = () => resolve(ignoring(properties));
    });
  }
  if (!request.prompt.includes('[stall-probe]')) return undefined;
  return ignoring(properties);
}

function ignoring(properties: Record<string, unknown>): string {
  return JSON.stringify({
    decision: 'ignore',
    priority: '5',
    reason: 'scripted ignore',
    delegate_to: 'none',
    message: '',
    defer_minutes: '0',
    ...('cites' in properties ? { cites: [] } : {}),
  });
}

async function until<T>(what: string, probe: () => T | undefined | false, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) {
      throw new Error(
        `timed out waiting for ${what}\nsupervisor: ${JSON.stringify(orchestrator.agents?.status())}\nlast agent lines:\n${agentLines.slice(-20).join('\n')}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Sends a stimulus to DevClaw and waits for the cycle it starts to end. */
async function handled(text: string): Promise<BusRow> {
  const before = new Set(rows('stimulus').map((row) => row.id));
  await admin.callReducer('create_stimulus', {
    source: 'test',
    kind: 'message',
    text,
    priority: 7,
    target_agent: 'DevClaw',
  });
  const stimulusId = rows('stimulus').find((row) => !before.has(row.id))?.id;
  return until(`the cycle for "${text}" to end`, () =>
    rows('cycle').find((row) => row.trigger_key === `stimulus:${stimulusId}` && row.phase === 'done'),
  );
}

const pidOf = (instance: string | undefined): number => Number(/^process (\d+)$/.exec(instance ?? '')?.[1]);

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'claw-stall-'));
  const modelPath = join(scratch, 'tiny.gguf');
  await writeTinyModel(modelPath);
  writeFileSync(
    join(scratch, 'clawfleet.config.json'),
    JSON.stringify({ agents: { DevClaw: { role: 'code', modelId: 'default', sampling: { maxTokens: 128 } } } }),
  );
  const config = loadConfig(
    {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      CLAW_DATA_DIR: join(scratch, 'data'),
      CLAW_MODEL_PATH: modelPath,
      CLAW_SLOTS: '1',
      CLAW_THREADS: '1',
      CLAW_GPU: 'cpu',
      CLAW_HTTP_PORT: 'off',
      CLAW_DRAIN_TIMEOUT_MS: '1000',
      // Stalled after 3 missed 1 s heartbeats; a start-up on this shared machine gets 30 s.
      CLAW_AGENT_HEARTBEAT_SECONDS: '1',
      CLAW_AGENT_STALL_HEARTBEATS: '3',
      CLAW_AGENT_START_GRACE_SECONDS: '30',
    },
    scratch,
  );
  orchestrator = await Orchestrator.start(config, silentLogger, {
    inferenceBackend: (worker) => new ScriptedInferenceLayer(worker, script),
    agentRestart: { initialDelayMs: 1, maxDelayMs: 10 },
    onAgentOutput: (agent, _stream, line) => agentLines.push(`${agent}: ${line}`),
  });
  const tokens = JSON.parse(readFileSync(config.tokensPath, 'utf8')) as Record<string, string>;
  admin = await EmbeddedBusClient.connect({ socketPath: config.socketPath, name: 'cli', token: tokens.cli as string });
  await admin.subscribe(
    (['stimulus', 'cycle', 'agent', 'agent_status'] as const).map((table) => `SELECT * FROM ${table}` as const),
  ).ready;
  await until('DevClaw reporting status', () => rows('agent_status').some((row) => row.agent === 'DevClaw'));
}, 180_000);

afterAll(async () => {
  for (const pid of frozen) if (isAlive(pid)) process.kill(pid, 'SIGCONT');
  await admin?.dispose();
  await orchestrator?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

describe('a stalled agent', () => {
  it('heartbeats while it runs: last_heartbeat_at moves past its registration', async () => {
    const devClaw = () => rows('agent').find((row) => row.name === 'DevClaw');
    await until('a heartbeat after registration', () => {
      const row = devClaw();
      return row !== undefined && Number(row.last_heartbeat_at) > Number(row.registered_at);
    });
    expect(devClaw()).toMatchObject({ online: true, status: 'running' });
  });

  it('keeps heartbeating through a model call longer than the stall timeout, and is not restarted', async () => {
    const heartbeatAt = () => Number(rows('agent').find((row) => row.name === 'DevClaw')?.last_heartbeat_at);
    const before = new Set(rows('stimulus').map((row) => row.id));
    await admin.callReducer('create_stimulus', {
      source: 'test',
      kind: 'message',
      text: '[stall-hold] a long model call',
      priority: 7,
      target_agent: 'DevClaw',
    });
    const stimulusId = rows('stimulus').find((row) => !before.has(row.id))?.id;
    await until('the triage call to be held', () => releaseHeld !== undefined);
    const heldSince = Date.now() * 1000;
    // Heartbeats keep arriving while the call is held, until it has lasted twice the stall timeout (3 s).
    await until('a heartbeat 6 s into the held call', () => heartbeatAt() > heldSince + 6_000_000);
    expect(orchestrator.agents?.status().find((status) => status.agent === 'DevClaw')).toMatchObject({
      state: 'running',
      restarts: 0,
    });
    releaseHeld?.();
    const cycle = await until('the held cycle to end', () =>
      rows('cycle').find((row) => row.trigger_key === `stimulus:${stimulusId}` && row.phase === 'done'),
    );
    expect(cycle).toMatchObject({ decision: 'ignore' });
  });

  it('is restarted when its event loop is frozen (SIGSTOP), and the new instance answers a stimulus', async () => {
    expect(await handled('[stall-probe] before the freeze')).toMatchObject({ decision: 'ignore' });
    const before = orchestrator.agents?.status().find((status) => status.agent === 'DevClaw');
    expect(before).toMatchObject({ state: 'running', restarts: 0 });
    const pid = pidOf(before?.instance);
    expect(isAlive(pid)).toBe(true);
    frozen.push(pid);
    process.kill(pid, 'SIGSTOP');

    const after = await until('DevClaw restarted as stalled', () =>
      orchestrator.agents
        ?.status()
        .find((status) => status.agent === 'DevClaw' && status.restarts === 1 && status.state === 'running'),
    );
    expect(after.lastRestartReason).toMatch(/^stalled: no heartbeat for \d+ s$/);
    expect(after.recentCrashes).toBe(1); // counted against the restart budget
    // Frozen, it could not act on SIGTERM: the grace ran out and SIGKILL ended it.
    expect(after.lastExit).toEqual({ code: null, signal: 'SIGKILL' });
    expect(isAlive(pid)).toBe(false);
    expect(pidOf(after.instance)).not.toBe(pid);

    expect(await handled('[stall-probe] after the restart')).toMatchObject({ decision: 'ignore' });
    // `claw status` shows the restart and its reason.
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [join(import.meta.dirname, '..', 'packages', 'cli', 'bin', 'claw.js'), 'status', '--json'],
      {
        cwd: scratch,
        env: {
          PATH: process.env.PATH,
          CLAW_DATA_DIR: orchestrator.config.dataDirectory,
          CLAW_SOCKET: orchestrator.config.socketPath,
        },
      },
    );
    const shown = JSON.parse(stdout) as { agents: { name: string; supervision: unknown }[] };
    expect(shown.agents.find((agent) => agent.name === 'DevClaw')?.supervision).toMatchObject({
      restarts: 1,
      lastRestartReason: after.lastRestartReason,
    });
  });
});
