import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type AgentConnection, connectAgent } from '@clawfleet/agent-connection';
import { isClawError } from '@clawfleet/protocol';
import { writeTinyModel } from '@clawfleet/tiny-model';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Recording and replay end to end on the generated model: the orchestrator as its own process,
 * agents' model calls made over its socket and attached to their cycles through the real reducers,
 * then `claw replay` and `claw why` as a person runs them.
 */
const root = resolve(import.meta.dirname, '..');
const clawBin = join(root, 'packages/cli/bin/claw.js');
let dataDirectory: string;
let orchestrator: ChildProcess | undefined;
let tokens: Record<string, string>;
/** The orchestrator's HTTP API, from its "HTTP API listening" log line. */
let httpUrl: string;
const agents: AgentConnection[] = [];

/** Whatever this machine's environment says, the orchestrator reads only the test's config file. */
const CLEAN_ENVIRONMENT = {
  CLAW_DATA_DIR: '',
  CLAW_SOCKET: '',
  CLAW_MODEL_PATH: '',
  CLAW_SLOTS: '',
  CLAW_CONTEXT_SIZE: '',
  CLAW_THREADS: '',
  CLAW_START_AGENTS: '',
  CLAW_PROMPT_RETENTION: '',
  CLAW_HTTP_HOST: '',
  // A free port: other tests' orchestrators run at the same time.
  CLAW_HTTP_PORT: '0',
};

function configFor(modelPath: string): string {
  const path = join(dataDirectory, `config-${createHash('sha256').update(modelPath).digest('hex').slice(0, 8)}.json`);
  writeFileSync(
    path,
    JSON.stringify({
      dataDirectory,
      threads: 1,
      startAgents: false,
      models: [{ id: 'tiny', path: modelPath, contextSize: 1024, slots: 2, gpuLayers: 0 }],
      agents: {
        // Greedy, and seeded sampling with no seed configured: the service picks and records one.
        DevClaw: { modelId: 'tiny', sampling: { temperature: 0, maxTokens: 40 } },
        UXClaw: { modelId: 'tiny', sampling: { temperature: 0.9, topP: 0.95, maxTokens: 40 } },
      },
    }),
  );
  return path;
}

async function startOrchestrator(modelPath: string): Promise<void> {
  let output = '';
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'packages/orchestrator/src/main.ts')], {
    cwd: root,
    env: { ...process.env, ...CLEAN_ENVIRONMENT, CLAW_CONFIG: configFor(modelPath), CLAW_LOG_FORMAT: 'json' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  orchestrator = child;
  await new Promise<void>((resolveReady, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const listening = /"url":"([^"]+)"[^\n]*"msg":"HTTP API listening"/.exec(output);
      if (listening !== null) httpUrl = listening[1] as string;
      if (output.includes('"msg":"ready')) resolveReady();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`orchestrator exited with ${code}:\n${output}`)));
  });
}

async function stopOrchestrator(): Promise<void> {
  for (const agent of agents.splice(0)) await agent.dispose();
  const child = orchestrator;
  orchestrator = undefined;
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolveExit) => child.once('exit', resolveExit));
  child.kill('SIGTERM');
  await exited;
}

function claw(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolveRun) => {
    execFile(
      process.execPath,
      [clawBin, '--data-dir', dataDirectory, '--no-color', ...args],
      { cwd: root, env: { ...process.env, ...CLEAN_ENVIRONMENT, CLAW_CONFIG: '' }, timeout: 120_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        resolveRun({ code, stdout, stderr });
      },
    );
  });
}

async function agent(name: string): Promise<AgentConnection> {
  const connection = await connectAgent({
    socketPath: join(dataDirectory, 'run', 'orchestrator.sock'),
    name,
    token: tokens[name] as string,
  });
  agents.push(connection);
  return connection;
}

const PREFIX = 'You are an agent of Clawfleet. Answer briefly.\n';
const SCHEMA = {
  type: 'object',
  properties: { decision: { enum: ['act', 'ignore'] }, reason: { type: 'string', maxLength: 12 } },
  required: ['decision', 'reason'],
};

/**
 * One cycle of `name` with three model calls (two free-text generations and one structured call),
 * each attached to the cycle with `record_cycle_inference` as the agent loop does. Returns its id.
 */
async function cycleWithCalls(name: string, stimulusText: string): Promise<{ cycleId: number; stimulusId: number }> {
  const connection = await agent(name);
  const { bus, inference } = connection;
  const watched = bus.subscribe(['SELECT * FROM cycle', 'SELECT * FROM stimulus']);
  await watched.ready;
  await bus.callReducer('create_stimulus', {
    source: 'test',
    kind: 'message',
    text: stimulusText,
    priority: 5,
    target_agent: name,
  });
  const stimulusId = Number(bus.rows('stimulus').find((row) => row.text === stimulusText)?.id);
  await bus.callReducer('begin_cycle', {
    trigger_kind: 'stimulus',
    trigger_key: `stimulus:${stimulusId}`,
    trigger_text: stimulusText,
    task_id: null,
    priority: 5,
  });
  const cycleId = Number(bus.rows('cycle').find((row) => row.trigger_key === `stimulus:${stimulusId}`)?.id);
  const prompts = [`${stimulusText}\nWhat do you do?`, `${stimulusText}\nSay why.`];
  const made: { phase: string; prompt: string; requestId: string; tokensIn: number; tokensOut: number }[] = [];
  for (const prompt of prompts) {
    const reply = await inference.generate(prompt, { prefix: PREFIX, priority: 'triage' });
    made.push({ phase: 'triage', prompt, ...reply });
  }
  const structuredPrompt = `${stimulusText}\nDecide as JSON.`;
  try {
    const reply = await inference.structured(structuredPrompt, SCHEMA, { prefix: PREFIX, priority: 'act' });
    made.push({ phase: 'act', prompt: structuredPrompt, ...reply });
  } catch (error) {
    // A reply the service refused (cut off, or not the schema) was still a model call, and recorded.
    if (!isClawError(error, 'OUTPUT_INVALID')) throw error;
    const details = error.details as { requestId: string; tokensIn: number; tokensOut: number };
    made.push({ phase: 'act', prompt: structuredPrompt, ...details });
  }
  for (const call of made) {
    await bus.callReducer('record_cycle_inference', {
      cycle_id: cycleId,
      phase: call.phase,
      model: 'tiny',
      request_id: call.requestId,
      prompt_hash: createHash('sha256')
        .update(PREFIX + call.prompt)
        .digest('hex'),
      seed: null,
      max_tokens: 40,
      tokens_in: call.tokensIn,
      tokens_out: call.tokensOut,
    });
  }
  await watched.dispose();
  return { cycleId, stimulusId };
}

interface Report {
  cycleId: number;
  agent: string;
  identical: boolean;
  calls: {
    index: number;
    requestId: string;
    identical: boolean;
    seed: number;
    temperature: number;
    recorded: { text: string; tokens: number[] };
    replayed: { text: string; tokens: number[] };
    divergence?: { characterIndex: number; recordedSnippet: string; replayedSnippet: string };
  }[];
}

interface Node {
  kind: string;
  id: number | string;
  title: string;
  fields: Record<string, unknown>;
  children: Node[];
}

function descendants(node: Node): Node[] {
  return node.children.flatMap((child) => [child, ...descendants(child)]);
}

let greedy: { cycleId: number; stimulusId: number };
let seeded: { cycleId: number; stimulusId: number };

beforeAll(async () => {
  dataDirectory = mkdtempSync(join(tmpdir(), 'claw-provenance-'));
  await startOrchestrator('generated');
  tokens = JSON.parse(readFileSync(join(dataDirectory, 'tokens.json'), 'utf8')) as Record<string, string>;
  greedy = await cycleWithCalls('DevClaw', 'The nightly build failed on staging');
  seeded = await cycleWithCalls('UXClaw', 'Review the login page contrast');
}, 180_000);

afterAll(async () => {
  await stopOrchestrator();
  rmSync(dataDirectory, { recursive: true, force: true });
}, 60_000);

describe('claw replay: a cycle run again with its recorded settings', () => {
  it('is identical for greedy sampling on the same model and build', async () => {
    const result = await claw('replay', String(greedy.cycleId), '--json');
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as Report;
    expect(report).toMatchObject({ cycleId: greedy.cycleId, agent: 'DevClaw', identical: true });
    expect(report.calls).toHaveLength(3);
    for (const call of report.calls) {
      expect(call.identical).toBe(true);
      expect(call.temperature).toBe(0);
      expect(call.recorded.tokens.length).toBeGreaterThan(0);
      expect(call.replayed.tokens).toEqual(call.recorded.tokens);
      expect(call.replayed.text).toBe(call.recorded.text);
    }
    const human = await claw('replay', String(greedy.cycleId));
    expect(human.stdout).toMatch(/cycle \d+ of DevClaw: 3 of 3 calls identical/);
  });

  it('is identical for seeded sampling at temperature 0.9 (the service chose and recorded each seed)', async () => {
    const result = await claw('replay', String(seeded.cycleId), '--json');
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as Report;
    expect(report.identical).toBe(true);
    expect(report.calls.map((call) => call.temperature)).toEqual([0.9, 0.9, 0.9]);
    // A seed per call, chosen by the service: replaying with them gives each output again.
    expect(new Set(report.calls.map((call) => call.seed)).size).toBe(3);
    for (const call of report.calls) expect(call.replayed.tokens).toEqual(call.recorded.tokens);
  });

  it('reports where the output diverged when the recorded output differs', async () => {
    const before = JSON.parse((await claw('replay', String(greedy.cycleId), '--json')).stdout) as Report;
    const target = before.calls[0]!;
    const original = target.recorded.text;
    const position = Math.min(3, original.length);
    const altered = `${original.slice(0, position)}§${original.slice(position + 1)}`;
    const database = new Database(join(dataDirectory, 'bus.sqlite'));
    try {
      database.prepare('UPDATE inference_record SET output = ? WHERE request_id = ?').run(altered, target.requestId);
    } finally {
      database.close();
    }
    const result = await claw('replay', String(greedy.cycleId), '--json');
    expect(result.code).toBe(9);
    const report = JSON.parse(result.stdout) as Report;
    expect(report.identical).toBe(false);
    expect(report.calls.map((call) => call.identical)).toEqual([false, true, true]);
    const divergence = report.calls[0]!.divergence!;
    expect(divergence.characterIndex).toBe(position);
    expect(divergence.recordedSnippet).toContain('§');
    expect(divergence.replayedSnippet).toBe(original.slice(0, position + 24));
    const human = await claw('replay', String(greedy.cycleId));
    expect(human.code).toBe(9);
    expect(human.stdout).toMatch(/1\. triage .*: diverged/);
    expect(human.stdout).toContain(`first difference at character ${position}`);
  });

  it('refuses a cycle that does not exist', async () => {
    const result = await claw('replay', '999999');
    expect(result.code).toBe(5);
    expect(result.stderr).toMatch(/Cycle 999999 does not exist/);
  });
});

describe('claw why: from a memory back to the model calls that produced it', () => {
  it('walks a compacted entry to its reflection, cycle, stimulus and recorded inference calls', async () => {
    const { bus } = await agent('DevClaw');
    const watched = bus.subscribe(['SELECT * FROM reflection', 'SELECT * FROM visible_memory_compaction']);
    await watched.ready;
    await bus.callReducer('record_reflection', {
      task_id: null,
      text: 'Staging builds fail when the cache is cold',
      importance: 0.7,
      tags: ['ci'],
      links: [
        { kind: 'cycle', id: greedy.cycleId },
        { kind: 'stimulus', id: greedy.stimulusId },
      ],
    });
    const reflection = bus.rows('reflection').find((row) => row.text === 'Staging builds fail when the cache is cold')!;
    const reflected = Number(reflection.memory_id);
    await bus.callReducer('begin_memory_compaction', { source_ids: [reflected] });
    const compaction = bus.rows('visible_memory_compaction').at(-1)!;
    await bus.callReducer('complete_memory_compaction', {
      compaction_id: Number(compaction.id),
      entries: [
        { text: 'Warm the cache before staging builds', importance: 0.7, tags: ['ci'], source_ids: [reflected] },
      ],
    });
    const longTerm = Number(bus.rows('visible_memory_compaction').at(-1)!.result_ids[0]);
    await watched.dispose();

    const result = await claw('why', String(longTerm), '--json');
    expect(result.code).toBe(0);
    const tree = JSON.parse(result.stdout) as Node;
    expect(tree).toMatchObject({ kind: 'memory', id: longTerm });
    const [compactionNode] = tree.children;
    expect(compactionNode).toMatchObject({ kind: 'compaction', id: Number(compaction.id) });
    expect(compactionNode!.children[0]).toMatchObject({ kind: 'memory', id: reflected });
    const all = descendants(tree);
    expect(all.find((node) => node.kind === 'reflection')?.id).toBe(Number(reflection.id));
    const cycle = all.find((node) => node.kind === 'cycle')!;
    expect(cycle.id).toBe(greedy.cycleId);
    expect(cycle.children[0]).toMatchObject({ kind: 'stimulus', id: greedy.stimulusId });
    const calls = cycle.children.filter((node) => node.kind === 'inference');
    expect(calls).toHaveLength(3);
    for (const call of calls) {
      expect(call.fields).toMatchObject({ recorded: true, prompt_retained: true, temperature: 0 });
      expect(call.fields.model_sha256).toMatch(/^[0-9a-f]{64}$/);
    }
    // The reflection's own link to the stimulus is the stimulus shown under the cycle.
    expect(all.filter((node) => node.kind === 'stimulus' && node.id === greedy.stimulusId)).toHaveLength(2);

    // The HTTP API's route gives the same tree (the dashboard's memory view reads it).
    const response = await fetch(`${httpUrl}/api/memory/entries/${longTerm}/provenance`, {
      headers: { authorization: `Bearer ${tokens.cli}` },
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ root: tree });

    const human = await claw('why', String(longTerm));
    expect(human.stdout).toMatch(/^memory #\d+ of DevClaw \(long, private\): Warm the cache/);
    expect(human.stdout).toMatch(/└─ .*inference #\d+: act on tiny/);
    expect(human.stdout).toContain('(shown above)');
  });

  it('refuses a memory that does not exist', async () => {
    const result = await claw('why', '424242');
    expect(result.code).toBe(5);
    expect(result.stderr).toMatch(/Memory entry 424242 does not exist/);
  });
});

describe('claw replay on another model file under the same id', () => {
  it('refuses, naming both file hashes', async () => {
    await stopOrchestrator();
    const other = join(dataDirectory, 'other-tiny.gguf');
    await writeTinyModel(other, { seed: 99 });
    await startOrchestrator(other);
    const result = await claw('replay', String(seeded.cycleId));
    expect(result.code).toBe(6);
    expect(result.stderr).toMatch(
      /Model `tiny` is now loaded from a file with sha256 [0-9a-f]{64}; the call was made with [0-9a-f]{64}/,
    );
  }, 120_000);
});
