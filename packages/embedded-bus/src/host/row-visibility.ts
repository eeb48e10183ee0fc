/**
 * Who may see which rows on the embedded host, by the module's visibility rules (the same functions
 * SpacetimeDB's views run), with a cache of each caller's Viewer (admin membership, agent name).
 */
import {
  canSeeMemory,
  canSeeMemoryCompaction,
  canSeeMessage,
  type TableDescription,
  type Viewer,
  viewCatalog,
} from '@clawfleet/db-module';
import type { BusRow } from '@clawfleet/protocol';
import type Database from 'better-sqlite3';
import { cachedIdentity, identityHex } from './column-codec.ts';
import { identityForName } from './identity.ts';
import type { RuntimeChange, SqliteTable } from './sqlite-table.ts';

const MAX_CACHED_VIEWERS = 4_096;

/** Whether a change can alter a caller's Viewer (admin membership, an agent's name or identity). */
export function changesViewer(change: RuntimeChange): boolean {
  if (change.table === 'admin') return true;
  if (change.table !== 'agent') return false;
  if (change.op !== 'update' || change.oldRow === undefined) return true;
  return (
    change.row.name !== change.oldRow.name || identityHex(change.row.identity) !== identityHex(change.oldRow.identity)
  );
}

/**
 * Whether a change can alter whether an existing row is visible to someone: a Viewer change, or a
 * memory entry leaving or changing owner or scope (its links are as visible as it is).
 */
export function changesVisibility(change: RuntimeChange): boolean {
  if (changesViewer(change)) return true;
  if (change.table !== 'memory_entry' || change.op === 'insert') return false;
  if (change.op === 'delete' || change.oldRow === undefined) return true;
  return change.row.agent !== change.oldRow.agent || change.row.scope !== change.oldRow.scope;
}

export class RowVisibility {
  readonly #database: Database.Database;
  readonly #tables: ReadonlyMap<string, SqliteTable>;
  readonly #descriptions: ReadonlyMap<string, TableDescription>;
  readonly #dataVersion: Database.Statement;
  /**
   * Viewers by caller name, valid while neither this connection nor another one committed a change to
   * `admin` or `agent`: own commits that touch them clear it, and `PRAGMA data_version` (which moves
   * when another connection to the same file commits) is checked once per synchronous turn (a commit's
   * notification asks for a viewer per subscriber; one check serves them all, as if another process's
   * commit during that turn had come just after it).
   */
  readonly #viewers = new Map<string, Viewer>();
  #viewersDataVersion: unknown;
  #viewersCheckedThisTurn = false;
  readonly #endViewerTurn = (): void => {
    this.#viewersCheckedThisTurn = false;
  };

  constructor(
    database: Database.Database,
    tables: ReadonlyMap<string, SqliteTable>,
    descriptions: ReadonlyMap<string, TableDescription>,
  ) {
    this.#database = database;
    this.#tables = tables;
    this.#descriptions = descriptions;
    this.#dataVersion = database.prepare('PRAGMA data_version').pluck(true);
  }

  /** Forgets the cached viewers when a committed change may have altered one. */
  forgetViewersIfChanged(changes: readonly RuntimeChange[]): void {
    for (const change of changes) {
      if (changesViewer(change)) {
        this.#viewers.clear();
        return;
      }
    }
  }

  viewer(callerName: string): Viewer {
    // Inside a transaction the rows may not be committed yet: compute, do not remember.
    if (this.#database.inTransaction) return this.#readViewer(callerName);
    if (!this.#viewersCheckedThisTurn) {
      this.#viewersCheckedThisTurn = true;
      queueMicrotask(this.#endViewerTurn);
      const dataVersion = this.#dataVersion.get();
      if (dataVersion !== this.#viewersDataVersion || this.#viewers.size >= MAX_CACHED_VIEWERS) {
        this.#viewers.clear();
        this.#viewersDataVersion = dataVersion;
      }
    }
    let viewer = this.#viewers.get(callerName);
    if (viewer === undefined) {
      viewer = this.#readViewer(callerName);
      this.#viewers.set(callerName, viewer);
    }
    return viewer;
  }

  #readViewer(callerName: string): Viewer {
    const identity = cachedIdentity(identityForName(callerName));
    const admin = this.#tables.get('admin')!.select('identity', identity);
    const agent = this.#tables.get('agent')!.select('identity', identity)[0];
    return { isAdmin: admin.length > 0, agentName: agent === undefined ? undefined : String(agent.name) };
  }

  /** Whether `viewer` may see `row` (public form) of `table`, a table or a view name. */
  visibleTo(viewer: Viewer, table: string, row: BusRow): boolean {
    const tableName = (viewCatalog as Record<string, string>)[table] ?? table;
    const description = this.#descriptions.get(tableName);
    if (description === undefined) return false;
    if (description.isPublic || viewer.isAdmin) return true;
    switch (tableName) {
      case 'message':
        return canSeeMessage(viewer, {
          from_agent: String(row.from_agent),
          to_agent: row.to_agent === null || row.to_agent === undefined ? undefined : String(row.to_agent),
          mentions: Array.isArray(row.mentions) ? row.mentions.map(String) : [],
        });
      case 'memory_entry':
        return canSeeMemory(viewer, { agent: String(row.agent), scope: String(row.scope) });
      case 'memory_link': {
        // A link is as visible as the memory it belongs to; a link whose memory is gone is admin-only.
        const memory = this.#tables.get('memory_entry')!.select('id', BigInt(row.memory_id as number | bigint))[0];
        return (
          memory !== undefined && canSeeMemory(viewer, { agent: String(memory.agent), scope: String(memory.scope) })
        );
      }
      case 'memory_compaction':
        return canSeeMemoryCompaction(viewer, { agent: String(row.agent) });
      default:
        return false;
    }
  }

  /**
   * Whether `callerName` may subscribe to or query `table` at all, as SpacetimeDB decides it:
   * public tables and views for everyone, private tables for admins (the module owner) only.
   */
  canRead(callerName: string, table: string): boolean {
    if (Object.hasOwn(viewCatalog, table)) return true;
    const description = this.#descriptions.get(table);
    if (description === undefined) return false;
    return description.isPublic || this.viewer(callerName).isAdmin;
  }
}
