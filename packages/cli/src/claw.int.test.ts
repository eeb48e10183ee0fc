import type { ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedBusClient } from '@clawfleet/bus-client';
import { IpcClient } from '@clawfleet/ipc';
import { ADMIN_METHODS } from '@clawfleet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_CODES } from './errors/exit-codes.ts';
import { killSpawned, runClaw, spawnClaw, startOrchestrator, stopProcess } from './testing/run-claw.ts';

/**
 * The real `claw` binary, run as a child process against a real orchestrator (its own process,
 * the embedded bus on SQLite, the generated tiny model), the way a person or a script uses it.
 */
let dataDirectory: string;
let orchestrator: ChildProcess;

const claw = (...args: string[]) => runClaw(['--data-dir', dataDirectory, ...args]);

/** A user error is exactly one line on stderr, with no stack trace. */
function expectOneLine(stderr: string, pattern: RegExp): void {
  expect(stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(stderr).toMatch(pattern);
  expect(stderr).not.toMatch(/\n\s+at /);
}

beforeAll(async () => {
  dataDirectory = mkdtempSync(join(tmpdir(), 'claw-cli-'));
  ({ process: orchestrator } = await startOrchestrator(dataDirectory));
});

afterAll(async () => {
  try {
    if (orchestrator) await stopProcess(orchestrator);
  } finally {
    // A `claw stimulus --wait` a failed test left running, too.
    await killSpawned();
    rmSync(dataDirectory, { recursive: true, force: true });
  }
});

describe('claw against a running orchestrator', () => {
  it('shows the agents, the slot pool and the bus (status --json)', async () => {
    const result = await claw('status', '--json');
    expect(result.code).toBe(EXIT_CODES.ok);
    const status = JSON.parse(result.stdout) as {
      orchestrator: { pid: number; socketPath: string; pool: { models: { id: string; slots: number }[] } };
      agents: { name: string }[];
    };
    expect(status.orchestrator.pid).toBe(orchestrator.pid);
    expect(status.orchestrator.socketPath).toBe(join(dataDirectory, 'run', 'orchestrator.sock'));
    expect(status.orchestrator.pool.models).toEqual([expect.objectContaining({ id: 'default', slots: 2 })]);
    expect(status.orchestrator.pool).toMatchObject({
      queuedByPriority: { human: 0, triage: 0, act: 0, reflect: 0, compaction: 0 },
    });
    expect(status.agents.map((agent) => agent.name).sort()).toEqual([
      'DevClaw',
      'LeadClaw',
      'OpsClaw',
      'ScribeClaw',
      'UXClaw',
    ]);
  });

  it('submits a stimulus that lands in the database as the CLI', async () => {
    const result = await claw('stimulus', 'Check the disk space', '--to', 'OpsClaw', '--priority', '9', '--json');
    expect(result.code).toBe(EXIT_CODES.ok);
    const stimulus = JSON.parse(result.stdout) as { id: number; target_agent: string; priority: number };
    expect(stimulus).toMatchObject({ target_agent: 'OpsClaw', priority: 9, source: 'cli' });
    const rows = await claw('db', 'sql', `SELECT text, target_agent FROM stimulus WHERE id = ${stimulus.id}`, '--json');
    expect(JSON.parse(rows.stdout)).toEqual([{ text: 'Check the disk space', target_agent: 'OpsClaw' }]);
  });

  it('reads what agents wrote: tasks by state, one task with its history, messages and reflections', async () => {
    const tokens = JSON.parse(readFileSync(join(dataDirectory, 'tokens.json'), 'utf8')) as Record<string, string>;
    const socketPath = join(dataDirectory, 'run', 'orchestrator.sock');
    const lead = await EmbeddedBusClient.connect({ socketPath, name: 'LeadClaw', token: tokens.LeadClaw! });
    const dev = await EmbeddedBusClient.connect({ socketPath, name: 'DevClaw', token: tokens.DevClaw! });
    try {
      const tasks = dev.subscribe(['SELECT * FROM task']);
      await tasks.ready;
      await lead.callReducer('create_task', {
        title: 'Fix the flaky build',
        description: 'CI fails one run in five',
        priority: 6,
        depends_on: [],
        stimulus_id: null,
        reserved_for: null,
      });
      const taskId = Number(dev.rows('task').find((row) => row.title === 'Fix the flaky build')!.id);
      await dev.callReducer('claim_task', { task_id: taskId, lease_seconds: 600 });
      await dev.callReducer('send_message', { to_agent: 'LeadClaw', text: 'On it: @UXClaw please review after' });
      await dev.callReducer('record_reflection', {
        task_id: taskId,
        text: 'The flake came from a shared temp folder',
        importance: 0.8,
        tags: ['ci'],
        links: [],
      });

      const claimed = JSON.parse((await claw('tasks', '--state', 'claimed', '--json')).stdout) as { id: number }[];
      expect(claimed).toEqual([expect.objectContaining({ id: taskId, owner: 'DevClaw', state: 'claimed' })]);
      const detail = JSON.parse((await claw('task', String(taskId), '--json')).stdout) as {
        task: { title: string };
        reflections: { text: string }[];
      };
      expect(detail.task.title).toBe('Fix the flaky build');
      expect(detail.reflections.map((row) => row.text)).toEqual(['The flake came from a shared temp folder']);
      const human = await claw('task', String(taskId));
      expect(human.stdout).toMatch(/DevClaw reflected: The flake came from a shared temp folder/);

      const mentioned = JSON.parse((await claw('messages', '--agent', 'UXClaw', '--json')).stdout) as {
        text: string;
      }[];
      expect(mentioned.map((row) => row.text)).toEqual(['On it: @UXClaw please review after']);
      expect(JSON.parse((await claw('messages', '--agent', 'OpsClaw', '--json')).stdout)).toEqual([]);

      const reflections = JSON.parse(
        (await claw('reflections', 'DevClaw', '--since', '1h', '--json')).stdout,
      ) as unknown[];
      expect(reflections).toEqual([expect.objectContaining({ agent: 'DevClaw', task_id: taskId })]);
      expect(JSON.parse((await claw('reflections', 'DevClaw', '--since', '2099-01-01', '--json')).stdout)).toEqual([]);
    } finally {
      await lead.dispose();
      await dev.dispose();
    }
  });

  it('lists and resolves an attention request an agent raised', async () => {
    const tokens = JSON.parse(readFileSync(join(dataDirectory, 'tokens.json'), 'utf8')) as Record<string, string>;
    const ops = await EmbeddedBusClient.connect({
      socketPath: join(dataDirectory, 'run', 'orchestrator.sock'),
      name: 'OpsClaw',
      token: tokens.OpsClaw!,
    });
    try {
      await ops.callReducer('request_attention', {
        text: 'Disk at 95%: may I delete old logs?',
        priority: 8,
        default_action: 'keep the logs',
        expires_in_seconds: 3600,
      });
    } finally {
      await ops.dispose();
    }
    const open = JSON.parse((await claw('attention', '--json')).stdout) as { id: number; agent: string }[];
    expect(open).toEqual([expect.objectContaining({ agent: 'OpsClaw', text: 'Disk at 95%: may I delete old logs?' })]);
    const resolved = await claw('attention', 'resolve', String(open[0]!.id), 'yes,', 'older', 'than', '7', 'days');
    expect(resolved.code).toBe(EXIT_CODES.ok);
    const all = JSON.parse((await claw('attention', '--state', 'resolved', '--json')).stdout) as unknown[];
    expect(all).toEqual([expect.objectContaining({ state: 'resolved', resolution: 'yes, older than 7 days' })]);
    expectOneLine((await claw('attention', 'resolve', String(open[0]!.id))).stderr, /already resolved/);
  });

  it('stimulus --wait follows triage, tool calls, reflection and the end of the cycle live', async () => {
    const waiting = spawnClaw([
      '--data-dir',
      dataDirectory,
      'stimulus',
      'Rotate the logs',
      '--to',
      'OpsClaw',
      '--wait',
    ]);
    let stdout = '';
    let stderr = '';
    waiting.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<number | null>((resolveExit) => waiting.once('exit', (code) => resolveExit(code)));
    const stimulusId = await new Promise<number>((resolveId, reject) => {
      waiting.stdout!.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        const match = /stimulus #(\d+) created/.exec(stdout);
        if (match) resolveId(Number(match[1]));
      });
      waiting.once('exit', (code) => reject(new Error(`claw exited with ${code}: ${stderr}`)));
    });

    // OpsClaw, scripted: the steps its loop records, through the same reducers.
    const tokens = JSON.parse(readFileSync(join(dataDirectory, 'tokens.json'), 'utf8')) as Record<string, string>;
    const ops = await EmbeddedBusClient.connect({
      socketPath: join(dataDirectory, 'run', 'orchestrator.sock'),
      name: 'OpsClaw',
      token: tokens.OpsClaw!,
    });
    try {
      const cycles = ops.subscribe(["SELECT * FROM cycle WHERE agent = 'OpsClaw'"]);
      await cycles.ready;
      const key = `stimulus:${stimulusId}`;
      await ops.callReducer('begin_cycle', {
        trigger_kind: 'stimulus',
        trigger_key: key,
        trigger_text: 'Rotate the logs',
        task_id: null,
        priority: 7,
      });
      const cycleId = Number(ops.rows('cycle').find((row) => row.trigger_key === key)!.id);
      await ops.callReducer('record_triage', {
        cycle_id: cycleId,
        decision: 'act',
        priority: 7,
        reason: 'logs are mine',
        defer_seconds: 0,
      });
      await ops.callReducer('begin_tool_call', {
        cycle_id: cycleId,
        step: 1,
        tool: 'files.list',
        args: '{"path":"logs"}',
        side_effect: false,
      });
      await ops.callReducer('finish_tool_call', {
        idempotency_key: `${cycleId}:1`,
        state: 'succeeded',
        result_digest: 'a'.repeat(64),
        result: 'app.log',
        error_code: '',
        duration_ms: 3,
      });
      await ops.callReducer('set_cycle_phase', { cycle_id: cycleId, phase: 'reflecting' });
      await ops.callReducer('record_reflection', {
        task_id: null,
        text: 'Rotated app.log; keep an eye on its growth',
        importance: 0.6,
        tags: ['logs'],
        links: [{ kind: 'cycle', id: cycleId }],
      });
      await ops.callReducer('finish_cycle', { cycle_id: cycleId, outcome: 'success', detail: 'rotated' });
    } finally {
      await ops.dispose();
    }

    expect(await exited).toBe(EXIT_CODES.ok);
    const trail = stdout.split('\n');
    const at = (pattern: RegExp): number => trail.findIndex((line) => pattern.test(line));
    const steps = [
      at(/OpsClaw picked it up/),
      at(/OpsClaw triaged: act \(priority 7\) - logs are mine/),
      at(/OpsClaw step 1: files\.list → succeeded/),
      at(/OpsClaw reflected: Rotated app\.log/),
      at(/OpsClaw done: success - rotated/),
    ];
    expect(steps.every((index) => index >= 0)).toBe(true);
    expect([...steps].sort((a, b) => a - b)).toEqual(steps);
  });

  it('stimulus --wait gives up after --timeout with one line, leaving the stimulus in place', async () => {
    const result = await claw(
      'stimulus',
      'Nobody is scripted to take this',
      '--to',
      'UXClaw',
      '--wait',
      '--timeout',
      '1s',
    );
    expect(result.code).toBe(EXIT_CODES.timeout);
    expectOneLine(result.stderr, /not finished after 1 s \(no agent has picked it up\)/);
  });

  it('lists pending plans, approves one and refuses a rejection without a reason', async () => {
    const created = JSON.parse((await claw('stimulus', 'Clean the scratch disk', '--json')).stdout) as { id: number };
    const tokens = JSON.parse(readFileSync(join(dataDirectory, 'tokens.json'), 'utf8')) as Record<string, string>;
    const dev = await EmbeddedBusClient.connect({
      socketPath: join(dataDirectory, 'run', 'orchestrator.sock'),
      name: 'DevClaw',
      token: tokens.DevClaw!,
    });
    try {
      const cycles = dev.subscribe(["SELECT * FROM cycle WHERE agent = 'DevClaw'"]);
      await cycles.ready;
      const key = `stimulus:${created.id}`;
      await dev.callReducer('begin_cycle', {
        trigger_kind: 'stimulus',
        trigger_key: key,
        trigger_text: 'Clean the scratch disk',
        task_id: null,
        priority: 5,
      });
      const cycleId = Number(dev.rows('cycle').find((row) => row.trigger_key === key)!.id);
      await dev.callReducer('record_triage', {
        cycle_id: cycleId,
        decision: 'act',
        priority: 5,
        reason: '',
        defer_seconds: 0,
      });
      await dev.callReducer('submit_plan', { cycle_id: cycleId, text: 'rm -rf scratch/*', tools: ['command.run'] });
    } finally {
      await dev.dispose();
    }
    const pending = JSON.parse((await claw('plans', '--json')).stdout) as { id: number; agent: string }[];
    expect(pending).toEqual([
      expect.objectContaining({ agent: 'DevClaw', text: 'rm -rf scratch/*', state: 'pending' }),
    ]);
    const id = String(pending[0]!.id);

    const noReason = await claw('reject', id);
    expect(noReason.code).toBe(EXIT_CODES.usage);
    expectOneLine(noReason.stderr, /reason/);

    const approved = await claw('approve', id, 'scratch only');
    expect(approved.code).toBe(EXIT_CODES.ok);
    const decided = JSON.parse((await claw('plans', '--state', 'approved', '--json')).stdout) as unknown[];
    expect(decided).toEqual([expect.objectContaining({ decided_by: 'admin', decision_reason: 'scratch only' })]);

    const again = await claw('reject', id, 'too late');
    expect(again.code).toBe(EXIT_CODES.refused);
    expectOneLine(again.stderr, /already approved/);
    const missing = await claw('approve', '424242');
    expect(missing.code).toBe(EXIT_CODES.notFound);
    expectOneLine(missing.stderr, /Plan 424242 does not exist/);
  });

  it('doctor passes on a healthy setup and names the fix for each problem it finds', async () => {
    const healthy = await claw('doctor', '--json');
    expect(healthy.code).toBe(EXIT_CODES.ok);
    const report = JSON.parse(healthy.stdout) as { ok: boolean; checks: { name: string; state: string }[] };
    expect(report.ok).toBe(true);
    expect(report.checks).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'orchestrator', state: 'ok' }),
        expect.objectContaining({ name: 'model default', state: 'ok' }),
        expect.objectContaining({ name: 'gpu', state: 'ok' }),
        expect.objectContaining({ name: 'data directory', state: 'ok' }),
      ]),
    );

    const broken = mkdtempSync(join(tmpdir(), 'claw-doctor-'));
    try {
      chmodSync(broken, 0o755);
      writeFileSync(join(broken, 'model.gguf'), 'GGUF but not really a model');
      const result = await runClaw(['--data-dir', broken, 'doctor', '--json'], {
        CLAW_MODEL_PATH: join(broken, 'model.gguf'),
      });
      expect(result.code).toBe(EXIT_CODES.checkFailed);
      const checks = (JSON.parse(result.stdout) as { checks: { name: string; state: string; fix?: string }[] }).checks;
      expect(checks).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ name: 'data directory', state: 'fail', fix: `chmod 700 ${broken}` }),
          expect.objectContaining({ name: 'model default', state: 'fail', fix: expect.stringContaining('GGUF') }),
          expect.objectContaining({ name: 'orchestrator', state: 'warn' }),
        ]),
      );
    } finally {
      rmSync(broken, { recursive: true, force: true });
    }
  });

  it('imports memories from JSONL, lists and searches them with explanations, and exports them unchanged', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'claw-memory-'));
    try {
      const records = [
        {
          id: 1,
          text: 'The VPN gateway restarts every Sunday at 03:00',
          tier: 'long',
          importance: 0.9,
          tags: ['vpn'],
          created_at: '2026-11-01T08:00:00.000Z',
          sources: [],
        },
        {
          id: 2,
          text: 'Release notes live in docs/releases',
          tier: 'daily',
          importance: 0.4,
          tags: [],
          created_at: '2026-11-20T08:00:00.000Z',
          sources: [],
        },
        {
          id: 3,
          text: 'VPN outages follow the Sunday restart',
          tier: 'long',
          importance: 0.7,
          tags: ['vpn'],
          created_at: '2026-11-21T08:00:00.000Z',
          sources: [{ kind: 'memory', id: 1 }],
        },
      ];
      const file = join(folder, 'scribe.jsonl');
      writeFileSync(file, `${records.map((record) => JSON.stringify(record)).join('\n')}\n`);
      const imported = await claw('memory', 'import', 'ScribeClaw', file);
      expect(imported.code).toBe(EXIT_CODES.ok);
      expect(imported.stdout).toContain('imported 3 memories into ScribeClaw');

      const longTier = JSON.parse((await claw('memory', 'ScribeClaw', '--tier', 'long', '--json')).stdout) as {
        text: string;
      }[];
      expect(longTier.map((entry) => entry.text).sort()).toEqual([records[0]!.text, records[2]!.text].sort());

      const search = await claw('memory', 'ScribeClaw', '--search', 'VPN restart', '--explain');
      expect(search.code).toBe(EXIT_CODES.ok);
      const firstHit = search.stdout.split('\n')[1];
      expect(firstHit).toMatch(/VPN/);
      expect(search.stdout).toMatch(/why: #\d+ [\d.]+ = lexical [\d.]+ \(bm25 [\d.]+\)/);
      expect(search.stdout).not.toContain('Release notes');

      const exported = join(folder, 'out.jsonl');
      expect((await claw('memory', 'export', 'ScribeClaw', exported)).code).toBe(EXIT_CODES.ok);
      const lines = readFileSync(exported, 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(lines.map((line) => [line.text, line.created_at])).toEqual(
        records.map((record) => [record.text, record.created_at]),
      );
      const derived = lines.find((line) => line.text === records[2]!.text)!;
      expect(derived.sources).toEqual([
        { kind: 'memory', id: lines.find((line) => line.text === records[0]!.text)!.id },
      ]);

      writeFileSync(file, `${JSON.stringify(records[0])}\n{"id":2,"text":""}\n`);
      const bad = await claw('memory', 'import', 'ScribeClaw', file);
      expect(bad.code).toBe(EXIT_CODES.usage);
      expectOneLine(bad.stderr, /Line 2/);
      expectOneLine((await claw('memory', 'Nobody')).stderr, /Unknown agent `Nobody`/);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('answers bad input with one clear line and the documented exit code', async () => {
    const cases: [string[], number, RegExp][] = [
      [['frobnicate'], EXIT_CODES.usage, /unknown command 'frobnicate'/],
      [['stimulus', '   '], EXIT_CODES.usage, /stimulus text is empty/],
      [['stimulus', 'hello', '--to', 'NoSuchClaw'], EXIT_CODES.notFound, /Unknown agent `NoSuchClaw`/],
      [['stimulus', 'hello', '--priority', 'urgent'], EXIT_CODES.usage, /--priority.*integer 0-9/],
      [['task', '999999'], EXIT_CODES.notFound, /Task 999999 does not exist/],
      [['task', 'abc'], EXIT_CODES.usage, /expected a positive whole number/],
      [['reflections', 'Ghost'], EXIT_CODES.notFound, /Unknown agent `Ghost`/],
    ];
    for (const [args, code, message] of cases) {
      const result = await claw(...args);
      expect({ args, code: result.code }).toEqual({ args, code });
      expectOneLine(result.stderr, message);
    }
  });

  it('refuses every SQL that would write, and the data stays as it was', async () => {
    const writes = [
      'DELETE FROM agent',
      "UPDATE agent SET role = 'x'",
      'SELECT 1; DROP TABLE agent',
      "ATTACH DATABASE '/tmp/claw-attach.sqlite' AS other",
      'PRAGMA journal_mode = DELETE',
      'PRAGMA query_only = OFF',
      'WITH doomed AS (SELECT name FROM agent) DELETE FROM agent WHERE name IN (SELECT name FROM doomed)',
      '/* SELECT */ DROP TABLE agent',
      'VACUUM',
      "INSERT INTO agent (name) VALUES ('Mallory')",
    ];
    for (const sql of writes) {
      const result = await claw('db', 'sql', sql);
      expect({ sql, code: result.code }).toEqual({ sql, code: EXIT_CODES.refused });
      expectOneLine(result.stderr, /read-only SELECT/);
    }
    const agents = JSON.parse((await claw('db', 'sql', 'SELECT COUNT(*) AS n FROM agent', '--json')).stdout);
    expect(agents).toEqual([{ n: 5 }]);
  });

  it('serves admin.* to admins only: an agent asking gets FORBIDDEN', async () => {
    const tokens = JSON.parse(readFileSync(join(dataDirectory, 'tokens.json'), 'utf8')) as Record<string, string>;
    const agent = await IpcClient.connect({
      socketPath: join(dataDirectory, 'run', 'orchestrator.sock'),
      agent: 'DevClaw',
      token: tokens.DevClaw!,
      reconnect: false,
    });
    try {
      for (const [method, params] of [
        [ADMIN_METHODS.status, {}],
        [ADMIN_METHODS.sql, { sql: 'SELECT * FROM memory_entry' }],
      ] as const) {
        await expect(agent.request(method, params)).rejects.toMatchObject({ code: 'FORBIDDEN' });
      }
    } finally {
      await agent.close();
    }
  });

  it('says when the token is wrong, and when nothing runs', async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'claw-cli-other-'));
    try {
      writeFileSync(join(elsewhere, 'tokens.json'), JSON.stringify({ cli: 'f'.repeat(64) }));
      const wrongToken = await runClaw([
        '--data-dir',
        elsewhere,
        '--socket',
        join(dataDirectory, 'run', 'orchestrator.sock'),
        'status',
      ]);
      expect(wrongToken.code).toBe(EXIT_CODES.authentication);
      expectOneLine(wrongToken.stderr, /refused the CLI's token/);

      const notRunning = await runClaw(['--data-dir', elsewhere, 'status']);
      expect(notRunning.code).toBe(EXIT_CODES.notRunning);
      expectOneLine(notRunning.stderr, /orchestrator is not running.*claw up/);

      copyFileSync(join(dataDirectory, 'tokens.json'), join(elsewhere, 'tokens.json'));
      mkdirSync(join(elsewhere, 'run'));
      writeFileSync(join(elsewhere, 'run', 'orchestrator.sock'), '');
      const staleSocket = await runClaw(['--data-dir', elsewhere, 'tasks']);
      expect(staleSocket.code).toBe(EXIT_CODES.notRunning);
      expectOneLine(staleSocket.stderr, /not running/);
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });
});
