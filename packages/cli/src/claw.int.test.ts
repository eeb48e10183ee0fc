import type { ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedBusClient } from '@clawfleet/bus-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_CODES } from './errors/exit-codes.ts';
import { runClaw, startOrchestrator, stopProcess } from './testing/run-claw.ts';

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
  if (orchestrator) await stopProcess(orchestrator);
  rmSync(dataDirectory, { recursive: true, force: true });
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
    expect(status.orchestrator.socketPath).toBe(join(dataDirectory, 'orchestrator.sock'));
    expect(status.orchestrator.pool.models).toEqual([expect.objectContaining({ id: 'default', slots: 2 })]);
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

  it('lists and resolves an attention request an agent raised', async () => {
    const tokens = JSON.parse(readFileSync(join(dataDirectory, 'tokens.json'), 'utf8')) as Record<string, string>;
    const ops = await EmbeddedBusClient.connect({
      socketPath: join(dataDirectory, 'orchestrator.sock'),
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

  it('says when the token is wrong, and when nothing runs', async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'claw-cli-other-'));
    try {
      writeFileSync(join(elsewhere, 'tokens.json'), JSON.stringify({ cli: 'f'.repeat(64) }));
      const wrongToken = await runClaw([
        '--data-dir',
        elsewhere,
        '--socket',
        join(dataDirectory, 'orchestrator.sock'),
        'status',
      ]);
      expect(wrongToken.code).toBe(EXIT_CODES.authentication);
      expectOneLine(wrongToken.stderr, /refused the CLI's token/);

      const notRunning = await runClaw(['--data-dir', elsewhere, 'status']);
      expect(notRunning.code).toBe(EXIT_CODES.notRunning);
      expectOneLine(notRunning.stderr, /orchestrator is not running.*claw up/);

      copyFileSync(join(dataDirectory, 'tokens.json'), join(elsewhere, 'tokens.json'));
      writeFileSync(join(elsewhere, 'orchestrator.sock'), '');
      const staleSocket = await runClaw(['--data-dir', elsewhere, 'tasks']);
      expect(staleSocket.code).toBe(EXIT_CODES.notRunning);
      expectOneLine(staleSocket.stderr, /not running/);
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });
});
