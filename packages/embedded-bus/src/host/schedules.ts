/**
 * Scheduled reducers on the embedded host: a timer on the earliest due row of the schedule tables
 * (`scheduleCatalog`) runs each due reducer as the database's own identity, in its own transaction that
 * also deletes the schedule row, as SpacetimeDB does.
 */
import { type ReducerDefinition, reducerCatalog, scheduleCatalog } from '@clawfleet/db-module';
import type { BusRowChange, Logger } from '@clawfleet/protocol';
import type { RuntimeRow, SqliteTable } from './sqlite-table.ts';

/** setTimeout's longest delay; a later schedule re-arms when the timer fires. */
const MAX_TIMER_DELAY_MS = 2_147_483_647;

/** What the schedule runner needs from the database. */
export interface ScheduleHost {
  now(): number;
  table(name: string): SqliteTable;
  /** Runs a scheduled reducer in one transaction with `afterRun`, and publishes; throws its ClawError. */
  runScheduled(
    name: string,
    definition: ReducerDefinition,
    args: Record<string, unknown>,
    afterRun: () => void,
  ): BusRowChange[];
  /** Runs `body` in a transaction of its own and publishes its changes. */
  writeAndPublish(body: () => void): void;
}

export function isScheduleTable(table: string): boolean {
  return Object.hasOwn(scheduleCatalog, table);
}

function dueMicros(row: RuntimeRow, column: string): bigint | undefined {
  const schedule = row[column] as { tag: string; value: { __timestamp_micros_since_unix_epoch__?: bigint } };
  // Only one-shot `Time` schedules are used by the module; an interval row is never due here.
  return schedule.tag === 'Time' ? schedule.value.__timestamp_micros_since_unix_epoch__ : undefined;
}

export class ScheduleRunner {
  readonly #host: ScheduleHost;
  readonly #logger: Logger;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(host: ScheduleHost, logger: Logger) {
    this.#host = host;
    this.#logger = logger;
  }

  /**
   * Runs every scheduled reducer whose time has come (by the host's clock), each in its own
   * transaction. A run that fails drops its schedule row (no retry forever) and is logged. Returns
   * all committed changes.
   */
  runDue(): BusRowChange[] {
    const all: BusRowChange[] = [];
    const nowMicros = BigInt(Math.floor(this.#host.now())) * 1_000n;
    for (const [tableName, reducerName] of Object.entries(scheduleCatalog)) {
      const table = this.#host.table(tableName);
      const column = table.description.scheduleAtColumn!;
      const key = table.description.primaryKey[0]!;
      const definition = reducerCatalog[reducerName] as ReducerDefinition;
      const argumentName = Object.keys(definition.params)[0]!;
      const due = table
        .all()
        .filter((row) => {
          const at = dueMicros(row, column);
          return at !== undefined && at <= nowMicros;
        })
        .sort((a, b) => Number(dueMicros(a, column)! - dueMicros(b, column)!));
      for (const row of due) {
        const deleteRow = (): void => {
          table.deleteWhere(key, row[key]);
        };
        try {
          all.push(...this.#host.runScheduled(reducerName, definition, { [argumentName]: row }, deleteRow));
        } catch (error) {
          this.#logger.warn(
            { err: error, table: tableName, reducer: reducerName },
            'scheduled reducer failed; its schedule row is dropped',
          );
          this.#host.writeAndPublish(deleteRow);
        }
      }
    }
    this.arm();
    return all;
  }

  /** Sets the timer for the earliest due schedule row, if any. */
  arm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#closed) return;
    let earliest: bigint | undefined;
    for (const tableName of Object.keys(scheduleCatalog)) {
      const table = this.#host.table(tableName);
      for (const row of table.all()) {
        const at = dueMicros(row, table.description.scheduleAtColumn!);
        if (at !== undefined && (earliest === undefined || at < earliest)) earliest = at;
      }
    }
    if (earliest === undefined) return;
    const delay = Math.min(MAX_TIMER_DELAY_MS, Math.max(0, Number(earliest / 1_000n) - this.#host.now()));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#closed) return;
      try {
        this.runDue();
      } catch (error) {
        this.#logger.error({ err: error }, 'running scheduled reducers failed');
        this.arm();
      }
    }, delay);
    this.#timer.unref();
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
