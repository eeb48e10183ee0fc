/**
 * Group commit: client reducer calls run in order inside one `BEGIN IMMEDIATE` … `COMMIT`, each in its
 * own savepoint, so each call is all-or-nothing and sees the calls before it while the group pays for
 * one commit (docs/bus.md, "Group commit").
 */
import type { BusRowChange } from '@clawfleet/protocol';
import { ClawError } from '@clawfleet/protocol';
import type Database from 'better-sqlite3';
import type { PreparedCall } from './reducer-arguments.ts';
import { changesVisibility } from './row-visibility.ts';
import type { RuntimeChange } from './sqlite-table.ts';

/** The outcome of one call of a group: its visible committed changes, or the error `callReducer` would throw. */
export type ReducerCallResult = { ok: true; changes: BusRowChange[] } | { ok: false; error: ClawError };

/** The transaction statements, prepared once (better-sqlite3's `transaction()` builds a wrapper per call). */
export interface TransactionStatements {
  readonly begin: Database.Statement;
  readonly commit: Database.Statement;
  readonly rollback: Database.Statement;
  readonly savepoint: Database.Statement;
  readonly releaseSavepoint: Database.Statement;
  readonly rollbackToSavepoint: Database.Statement;
}

export function prepareTransactionStatements(database: Database.Database): TransactionStatements {
  return {
    begin: database.prepare('BEGIN IMMEDIATE'),
    commit: database.prepare('COMMIT'),
    rollback: database.prepare('ROLLBACK'),
    savepoint: database.prepare('SAVEPOINT reducer_call'),
    releaseSavepoint: database.prepare('RELEASE reducer_call'),
    rollbackToSavepoint: database.prepare('ROLLBACK TO reducer_call'),
  };
}

/** What a group needs from the database that runs it. */
export interface GroupCommitHost {
  readonly database: Database.Database;
  readonly statements: TransactionStatements;
  /** Where the tables record the changes of the running call; `undefined` outside a call. */
  collect(changes: RuntimeChange[] | undefined): void;
  /** Runs the call's reducer against the database (inside the open transaction and savepoint). */
  run(call: PreparedCall): void;
  reducerError(name: string, error: unknown): ClawError;
  /** The committed changes of one call: caches updated, published; returns them in public form. */
  committed(changes: RuntimeChange[]): BusRowChange[];
  /** Schedule rows were written: the host re-arms its timer. */
  schedulesChanged(): void;
  /** The changes `callerName` may see. */
  visibleChanges(callerName: string, changes: BusRowChange[]): BusRowChange[];
  isScheduleTable(table: string): boolean;
}

/**
 * Runs calls from the start of `calls` as one transaction and returns how many it took. A call whose
 * changes alter who may see what (`changesVisibility`) runs in a group of its own: pushed rows are
 * filtered by visibility after the commit, so no call may change the rules by which another call of
 * its group has its rows judged. Met later in a group, such a call is rolled back to its savepoint
 * and the group ends before it; it then runs first in the next one, as it would have run after them.
 */
export function runGroup(host: GroupCommitHost, calls: readonly PreparedCall[], results: ReducerCallResult[]): number {
  const { statements, database } = host;
  try {
    statements.begin.run();
  } catch (error) {
    for (const call of calls) results[call.index] = { ok: false, error: host.reducerError(call.reducer, error) };
    return calls.length;
  }
  let taken = calls.length;
  const done: { call: PreparedCall; changes: RuntimeChange[] }[] = [];
  for (let position = 0; position < calls.length; position++) {
    const call = calls[position]!;
    const changes: RuntimeChange[] = [];
    host.collect(changes);
    try {
      statements.savepoint.run();
      host.run(call);
      const alone = changes.some(changesVisibility);
      if (alone && position > 0) {
        // Undone here and run first in the next group, after this group's rows were published.
        statements.rollbackToSavepoint.run();
        statements.releaseSavepoint.run();
        taken = position;
        break;
      }
      statements.releaseSavepoint.run();
      done.push({ call, changes });
      if (alone) {
        taken = 1;
        break;
      }
    } catch (error) {
      results[call.index] = { ok: false, error: host.reducerError(call.reducer, error) };
      if (!database.inTransaction) {
        // SQLite abandoned the whole transaction (I/O or memory failure): the calls before this one
        // are undone too. They were not acknowledged; report them failed and run the rest anew.
        for (const lost of done) {
          results[lost.call.index] = {
            ok: false,
            error: new ClawError(
              'DATABASE_ERROR',
              `Reducer ${lost.call.reducer} was rolled back with its group: ${(error as Error).message}`,
              { cause: error, retryable: true, details: { reducer: lost.call.reducer } },
            ),
          };
        }
        return position + 1;
      }
      statements.rollbackToSavepoint.run();
      statements.releaseSavepoint.run();
    } finally {
      host.collect(undefined);
    }
  }
  try {
    statements.commit.run();
  } catch (error) {
    if (database.inTransaction) statements.rollback.run();
    for (const { call } of done) results[call.index] = { ok: false, error: host.reducerError(call.reducer, error) };
    return taken;
  }
  let schedulesChanged = false;
  for (const { call, changes } of done) {
    results[call.index] = { ok: true, changes: host.committed(changes) };
    if (changes.some((change) => host.isScheduleTable(change.table))) schedulesChanged = true;
  }
  if (schedulesChanged) host.schedulesChanged();
  for (const { call } of done) {
    const result = results[call.index] as { ok: true; changes: BusRowChange[] };
    result.changes = host.visibleChanges(call.callerName, result.changes);
  }
  return taken;
}
