import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BusClient, SpacetimeDbBusClient } from '@clawfleet/bus-client';
import { SpacetimeDbTestServer } from '@clawfleet/bus-client/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_CODES } from './errors/exit-codes.ts';
import { runClaw } from './testing/run-claw.ts';

/**
 * `claw --server <url>`: the data commands straight against a SpacetimeDB database, no orchestrator.
 * No SpacetimeDB server can run where this is built, so the server is the bus-client's test double
 * (it speaks the SDK's own WebSocket protocol and SpacetimeDB's SQL endpoint, with the embedded host
 * behind it; its guesses are marked in its source and in open-questions.md Q-050 and Q-140). The CLI
 * runs as the real `claw` process with the module owner's token.
 */
let server: SpacetimeDbTestServer;
let admin: BusClient;
let scratch: string;
let ownerToken: string;
/** Identities the agents are registered with (any 256-bit value: no agent connects in this test). */
const IDENTITIES = { OpsClaw: 'a1'.repeat(32), DevClaw: 'b2'.repeat(32) };

const claw = (args: string[], environment: NodeJS.ProcessEnv = { SPACETIMEDB_TOKEN: ownerToken }) =>
  runClaw(['--server', server.url, '--database', server.databaseName, ...args], {
    SPACETIMEDB_TOKEN: '',
    SPACETIMEDB_TOKEN_FILE: '',
    SPACETIMEDB_DATABASE: '',
    // No orchestrator anywhere: a command that reached for one would fail on this data directory.
    CLAW_DATA_DIR: join(scratch, 'no-orchestrator'),
    ...environment,
  });

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'claw-server-'));
  server = await SpacetimeDbTestServer.start();
  ownerToken = server.tokenFor('orchestrator');
  admin = await SpacetimeDbBusClient.connect({
    uri: server.url,
    databaseName: server.databaseName,
    name: 'orchestrator',
    token: ownerToken,
    reconnect: false,
  });
  for (const [name, role] of [
    ['OpsClaw', 'system health'],
    ['DevClaw', 'code'],
  ] as const) {
    await admin.reducers.registerAgent({ name, identity: IDENTITIES[name], role });
  }
  await admin.reducers.createTask({ title: 'Rotate the logs', description: 'weekly', priority: 4, depends_on: [] });
});

afterAll(async () => {
  await admin?.dispose();
  await server?.dispose();
  rmSync(scratch, { recursive: true, force: true });
});

describe('claw --server', () => {
  it('submits a stimulus through the reducer and reads it back, with the agent name checked', async () => {
    const created = await claw(['stimulus', 'Check the disk space', '--to', 'OpsClaw', '--priority', '8', '--json']);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(EXIT_CODES.ok);
    const stimulus = JSON.parse(created.stdout) as Record<string, unknown>;
    expect(stimulus).toMatchObject({ text: 'Check the disk space', target_agent: 'OpsClaw', priority: 8 });
    // The owner's identity wrote it: the server, not the CLI, decided who the caller is.
    expect(stimulus.created_by).toBe(admin.identity);
    expect(admin.rows('stimulus')).toEqual([]); // the admin client subscribed to nothing
    const seen = admin.subscribe('SELECT * FROM stimulus');
    await seen.ready;
    expect(admin.rows('stimulus').map((row) => row.text)).toEqual(['Check the disk space']);
    await seen.dispose();

    const unknown = await claw(['stimulus', 'hello', '--to', 'NoSuchClaw']);
    expect(unknown.code).toBe(EXIT_CODES.notFound);
    expect(unknown.stderr).toMatch(/^claw: .*NoSuchClaw.*\n$/);
  });

  it('shows the agents and the bus from the database (status), and lists tasks', async () => {
    const status = await claw(['status', '--json']);
    expect(status.stderr).toBe('');
    expect(status.code).toBe(EXIT_CODES.ok);
    const report = JSON.parse(status.stdout) as {
      bus: Record<string, string>;
      agents: { name: string; role: string }[];
    };
    expect(report.bus).toEqual({ host: 'spacetimedb', server: server.url, database: server.databaseName });
    expect(report.agents.map((agent) => [agent.name, agent.role]).sort()).toEqual([
      ['DevClaw', 'code'],
      ['OpsClaw', 'system health'],
    ]);

    const tasks = await claw(['tasks', '--json']);
    expect(tasks.code).toBe(EXIT_CODES.ok);

    expect((JSON.parse(tasks.stdout) as { title: string; state: string }[]).map((task) => task.title)).toEqual([
      'Rotate the logs',
    ]);
  });

  it('runs one SELECT on the SQL endpoint, values as the bus shows them', async () => {
    const result = await claw(['db', 'sql', "SELECT name, identity, role FROM agent WHERE name = 'OpsClaw'", '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(EXIT_CODES.ok);
    expect(JSON.parse(result.stdout)).toEqual([
      { name: 'OpsClaw', identity: IDENTITIES.OpsClaw, role: 'system health' },
    ]);
    const options = await claw(['db', 'sql', 'SELECT text, target_agent, created_at FROM stimulus', '--json']);
    const [row] = JSON.parse(options.stdout) as { text: string; target_agent: unknown; created_at: unknown }[];
    expect(row?.target_agent).toBe('OpsClaw');
    expect(typeof row?.created_at).toBe('number');
  });

  it('refuses SQL that would write before sending it, and the data stays as it was', async () => {
    const before = server.sqlRequests.length;
    for (const sql of [
      "DELETE FROM agent WHERE name = 'OpsClaw'",
      "UPDATE agent SET role = 'x'",
      "SELECT * FROM agent; DELETE FROM agent WHERE name = 'OpsClaw'",
      'WITH a AS (SELECT * FROM agent) SELECT * FROM a',
    ]) {
      const refused = await claw(['db', 'sql', sql]);
      expect(refused.code).toBe(EXIT_CODES.refused);
      expect(refused.stderr).toMatch(/^claw: Only read-only SELECT statements are allowed: .*\n$/);
    }
    expect(server.sqlRequests.length).toBe(before);
    const agents = await claw(['db', 'sql', 'SELECT name FROM agent', '--json']);
    expect((JSON.parse(agents.stdout) as { name: string }[]).map((row) => row.name).sort()).toEqual([
      'DevClaw',
      'OpsClaw',
    ]);
  });

  it('says what only the orchestrator knows, and what is wrong with the server or the token, in one line', async () => {
    const status = await claw(['agents', 'restart', 'OpsClaw']);
    expect(status.code).toBe(EXIT_CODES.usage);
    expect(status.stderr).toMatch(
      /^claw: Restarting an agent is the orchestrator's, not in the database, so `--server` cannot reach it.*\n$/,
    );

    const noToken = await claw(['tasks'], {});
    expect(noToken.code).toBe(EXIT_CODES.authentication);
    expect(noToken.stderr).toMatch(/^claw: `--server` needs the token of an admin identity.*SPACETIMEDB_TOKEN/);

    const tokenFile = join(scratch, 'owner-token');
    writeFileSync(tokenFile, `${ownerToken}\n`, { mode: 0o600 });
    const fromFile = await claw(['tasks', '--json'], { SPACETIMEDB_TOKEN_FILE: tokenFile });
    expect(fromFile.code).toBe(EXIT_CODES.ok);

    const badToken = await claw(['db', 'sql', 'SELECT name FROM agent'], { SPACETIMEDB_TOKEN: 'not-a-token' });
    expect(badToken.code).toBe(EXIT_CODES.authentication);
    expect(badToken.stderr.trim().split('\n')).toHaveLength(1);

    const wrongDatabase = await runClaw(
      ['--server', server.url, '--database', 'nope', 'db', 'sql', 'SELECT 1 FROM agent'],
      {
        SPACETIMEDB_TOKEN: ownerToken,
      },
    );
    expect(wrongDatabase.code).toBe(EXIT_CODES.notFound);
    expect(wrongDatabase.stderr).toMatch(/^claw: SpacetimeDB at .* has no database `nope`/);

    const nothing = await runClaw(['--server', 'http://127.0.0.1:9', 'tasks'], { SPACETIMEDB_TOKEN: ownerToken });
    expect(nothing.code).toBe(EXIT_CODES.notRunning);
    expect(nothing.stderr).toMatch(/^claw: .*127\.0\.0\.1:9.*\n$/);
    expect(nothing.stderr).not.toMatch(/\n\s+at /);
  });
});
