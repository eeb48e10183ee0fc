import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeTables, type TableDescription } from '@clawfleet/db-module';
import { ClawError, type Logger } from '@clawfleet/protocol';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { EmbeddedDatabase } from './embedded-database.ts';
import { identityForName } from './identity.ts';
import { schemaFingerprint, upgradeSchema } from './schema-upgrade.ts';
import { SqliteTable } from './sqlite-table.ts';

/**
 * A `bus.sqlite` made by an older build (here: today's schema with a column or table taken away, as
 * an older db-module had it) is upgraded in place when that adds and loses nothing, and refused
 * unchanged otherwise. Real SQLite files in a temporary directory.
 */
const directory = mkdtempSync(join(tmpdir(), 'clawfleet-schema-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));
let counter = 0;

interface Logged {
  level: string;
  fields: Record<string, unknown>;
  message: string;
}

function capturingLogger(into: Logged[]): Logger {
  const make = (bindings: Record<string, unknown>): Logger => {
    const log =
      (level: string) =>
      (fields: unknown, message?: string): void => {
        into.push({ level, fields: { ...bindings, ...(fields as Record<string, unknown>) }, message: message ?? '' });
      };
    return {
      trace: log('trace'),
      debug: log('debug'),
      info: log('info'),
      warn: log('warn'),
      error: log('error'),
      fatal: log('fatal'),
      child: (more: Record<string, unknown>) => make({ ...bindings, ...more }),
    } as unknown as Logger;
  };
  return make({});
}

/** A current database with one agent and one inference record, closed. */
function createCurrent(): string {
  const path = join(directory, `bus-${++counter}.sqlite`);
  const database = EmbeddedDatabase.open({ path });
  database.callReducer('orchestrator', 'register_agent', {
    name: 'alpha',
    identity: identityForName('alpha'),
    role: 'worker',
  });
  database.callReducer('orchestrator', 'record_inference', {
    agent: 'alpha',
    host: 'h1',
    model: 'tiny',
    priority_class: 'act',
    prompt_tokens: 12,
    completion_tokens: 5,
    duration_ms: 40,
    request_id: '7b0c7e4e-0000-4000-8000-000000000001',
    method: 'generate',
    outcome: 'failed',
    error_code: 'TIMEOUT',
    cached_prompt_tokens: 3,
    queued_ms: 10,
  });
  database.close();
  return path;
}

/** Rewrites the file as an older build left it: `sql` run on it, and no fingerprint if `forgetFingerprint`. */
function makeOlder(path: string, sql: string, forgetFingerprint = true): void {
  const raw = new Database(path);
  raw.exec(sql);
  if (forgetFingerprint) raw.exec(`DELETE FROM __clawfleet_meta WHERE key LIKE 'schema\\_%' ESCAPE '\\'`);
  raw.close();
}

/** The bytes of every file in the database's directory that belongs to it. */
function snapshot(path: string): Record<string, string> {
  const base = path.split('/').at(-1)!;
  return Object.fromEntries(
    readdirSync(directory)
      .filter((name) => name.startsWith(base))
      .map((name) => [
        name,
        createHash('sha256')
          .update(readFileSync(join(directory, name)))
          .digest('hex'),
      ]),
  );
}

function openError(path: string): ClawError {
  try {
    EmbeddedDatabase.open({ path }).close();
  } catch (error) {
    if (error instanceof ClawError) return error;
    throw error;
  }
  throw new Error('expected the open to be refused');
}

describe('schema upgrade at open', () => {
  it('adds a missing nullable column and a missing table in place, keeps the rows, and writes work again', () => {
    const path = createCurrent();
    makeOlder(path, 'ALTER TABLE inference_usage DROP COLUMN error_code; DROP TABLE memory_compaction;');
    const logged: Logged[] = [];
    const database = EmbeddedDatabase.open({ path, logger: capturingLogger(logged) });
    try {
      const [usage] = database.query('orchestrator', 'inference_usage');
      expect(usage).toMatchObject({
        agent: 'alpha',
        prompt_tokens: 12,
        request_id: '7b0c7e4e-0000-4000-8000-000000000001',
      });
      expect(usage?.error_code ?? null).toBeNull();
      expect(database.query('orchestrator', 'agent').map((row) => row.name)).toEqual(['alpha']);
      expect(database.query('orchestrator', 'memory_compaction')).toEqual([]);
      // What failed before the upgrade (every accounting write) succeeds now, with the new column.
      database.callReducer('orchestrator', 'record_inference', {
        agent: 'alpha',
        host: 'h1',
        model: 'tiny',
        priority_class: 'act',
        prompt_tokens: 1,
        completion_tokens: 1,
        duration_ms: 1,
        request_id: '7b0c7e4e-0000-4000-8000-000000000002',
        method: 'generate',
        outcome: 'failed',
        error_code: 'CANCELLED',
        cached_prompt_tokens: 0,
        queued_ms: 0,
      });
      expect(database.query('orchestrator', 'inference_usage').map((row) => row.error_code ?? null)).toEqual([
        null,
        'CANCELLED',
      ]);
    } finally {
      database.close();
    }
    const upgrade = logged.find((entry) => entry.level === 'warn' && entry.message.startsWith('upgraded'));
    expect(upgrade?.message).toMatch(/inference_usage: added column error_code/);
    expect(upgrade?.message).toMatch(/memory_compaction: created/);
    // Recorded: the next open has nothing to do and changes nothing.
    const before = snapshot(path);
    const again: Logged[] = [];
    EmbeddedDatabase.open({ path, logger: capturingLogger(again) }).close();
    expect(again.filter((entry) => entry.message.includes('schema'))).toEqual([]);
    expect(snapshot(path)).toEqual(before);
  });

  it('opens a current database without changing a byte', () => {
    const path = createCurrent();
    const before = snapshot(path);
    const logged: Logged[] = [];
    const database = EmbeddedDatabase.open({ path, logger: capturingLogger(logged) });
    expect(database.query('orchestrator', 'agent').map((row) => row.name)).toEqual(['alpha']);
    database.close();
    expect(snapshot(path)).toEqual(before);
    expect(logged.filter((entry) => entry.message.includes('schema'))).toEqual([]);
  });

  it('refuses a database with a removed column and a new NOT NULL column, naming both, and leaves it byte-identical', () => {
    const path = createCurrent();
    makeOlder(
      path,
      'ALTER TABLE inference_usage DROP COLUMN queued_ms; ALTER TABLE inference_usage DROP COLUMN method; ALTER TABLE agent ADD COLUMN nickname TEXT;',
    );
    const before = snapshot(path);
    const error = openError(path);
    expect(error.code).toBe('SCHEMA_MISMATCH');
    expect(error.message).toContain(path);
    // One clause per table and problem, naming each column.
    expect(error.message).toMatch(/inference_usage\.method, \.queued_ms are new and NOT NULL without a default/);
    expect(error.message).toMatch(/agent\.nickname is in the file but no longer in the module/);
    expect(error.details.fix).toMatch(/move it aside/);
    expect(error.details.problems).toEqual([
      { table: 'agent', column: 'nickname', problem: expect.any(String) },
      { table: 'inference_usage', column: 'method', problem: expect.any(String) },
      { table: 'inference_usage', column: 'queued_ms', problem: expect.any(String) },
    ]);
    expect(snapshot(path)).toEqual(before);
    // Refused again the same way: the first refusal did not half-apply anything.
    expect(openError(path).message).toBe(error.message);
  });

  it('refuses a table the module no longer has and a column whose SQLite type changed', () => {
    const path = createCurrent();
    makeOlder(
      path,
      `CREATE TABLE legacy_notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL) STRICT;
       INSERT INTO legacy_notes VALUES (1, 'keep me');
       ALTER TABLE inference_usage DROP COLUMN model; ALTER TABLE inference_usage ADD COLUMN model INTEGER;`,
    );
    const before = snapshot(path);
    const error = openError(path);
    expect(error.code).toBe('SCHEMA_MISMATCH');
    expect(error.message).toMatch(/legacy_notes is in the file but no longer in the module/);
    expect(error.message).toMatch(/inference_usage\.model changed from INTEGER to TEXT NOT NULL/);
    expect(snapshot(path)).toEqual(before);
  });

  it('refuses a type change SQLite cannot see (u64 to u32, both INTEGER) from the recorded column types', () => {
    const path = createCurrent();
    // As if an older build had declared agent.connections a u64 (stored as INTEGER, like today's u32).
    const raw = new Database(path);
    const stored = JSON.parse(
      (raw.prepare(`SELECT value FROM __clawfleet_meta WHERE key = 'schema_column_types'`).get() as { value: string })
        .value,
    );
    stored.agent.connections = JSON.stringify({ tag: 'U64' });
    raw.prepare(`UPDATE __clawfleet_meta SET value = ? WHERE key = 'schema_column_types'`).run(JSON.stringify(stored));
    raw.prepare(`UPDATE __clawfleet_meta SET value = 'an older fingerprint' WHERE key = 'schema_fingerprint'`).run();
    raw.close();
    const before = snapshot(path);
    const error = openError(path);
    expect(error.message).toMatch(/agent\.connections changed type from \{"tag":"U64"\} to \{"tag":"U32"\}/);
    expect(snapshot(path)).toEqual(before);
  });

  it('adds a new NOT NULL column that declares a default, filling existing rows with it', () => {
    const path = createCurrent();
    const withDefault: TableDescription[] = describeTables().map((description) =>
      description.name === 'agent'
        ? {
            ...description,
            columns: [...description.columns, { name: 'priority', type: { tag: 'U32' }, defaultValue: 7 }],
          }
        : description,
    );
    const raw = new Database(path);
    const tables = new Map(
      withDefault.map((description) => [description.name, new SqliteTable(raw, description, () => {})]),
    );
    const logged: Logged[] = [];
    const result = upgradeSchema(raw, path, withDefault, tables, capturingLogger(logged));
    expect(result).toEqual({ outcome: 'upgraded', applied: ['table agent: added column priority (existing rows: 7)'] });
    expect(raw.prepare('SELECT name, priority FROM agent').all()).toEqual([{ name: 'alpha', priority: 7 }]);
    expect(upgradeSchema(raw, path, withDefault, tables, capturingLogger(logged)).outcome).toBe('current');
    expect(schemaFingerprint(withDefault)).not.toBe(schemaFingerprint(describeTables()));
    raw.close();
  });

  it('refuses a new unique index the existing rows break, and rolls back the columns added with it', () => {
    const path = createCurrent();
    const database = EmbeddedDatabase.open({ path });
    database.callReducer('orchestrator', 'register_agent', {
      name: 'beta',
      identity: identityForName('beta'),
      role: 'worker',
    });
    database.close();
    const changed: TableDescription[] = describeTables().map((description) =>
      description.name === 'agent'
        ? {
            ...description,
            columns: [...description.columns, { name: 'nickname', type: { tag: 'Sum', value: { variants: [] } } }],
            indexes: [...description.indexes, { accessor: 'role', columns: ['role'], unique: true }],
          }
        : description,
    );
    // The nullable column is an Option<string>: taken from an existing nullable column's type.
    const optionString = describeTables()
      .find((description) => description.name === 'inference_usage')!
      .columns.find((column) => column.name === 'error_code')!.type;
    changed.find((description) => description.name === 'agent')!.columns.at(-1)!.type = optionString;
    const before = snapshot(path);
    const raw = new Database(path);
    const tables = new Map(
      changed.map((description) => [description.name, new SqliteTable(raw, description, () => {})]),
    );
    let error: unknown;
    try {
      upgradeSchema(raw, path, changed, tables, capturingLogger([]));
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ClawError);
    expect((error as ClawError).code).toBe('SCHEMA_MISMATCH');
    expect((error as ClawError).message).toMatch(/agent has rows that repeat a value of a new unique index/);
    expect(
      (raw.prepare('PRAGMA table_info(agent)').all() as { name: string }[]).map((column) => column.name),
    ).not.toContain('nickname');
    raw.close();
    expect(snapshot(path)).toEqual(before);
  });
});
