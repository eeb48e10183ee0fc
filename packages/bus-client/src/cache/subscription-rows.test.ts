import { describe, expect, it } from 'vitest';
import type { BusRow } from '../bus-client.ts';
import { RowCache } from './row-cache.ts';
import { SubscriptionRows } from './subscription-rows.ts';

const task = (id: number | bigint, state: string, text = 'x'): BusRow => ({ id, title: `t${id}`, state, text });

function recorder() {
  const events: string[] = [];
  return {
    events,
    callbacks: {
      onInsert: (row: BusRow) => events.push(`insert ${row.id} ${row.state}`),
      onUpdate: (oldRow: BusRow, row: BusRow) => events.push(`update ${oldRow.id} ${oldRow.state}->${row.state}`),
      onDelete: (row: BusRow) => events.push(`delete ${row.id} ${row.state}`),
    },
  };
}

describe('client row cache', () => {
  it('keys rows by primary key: an update replaces the row, a 64-bit id as bigint or number is one row', () => {
    const cache = new RowCache();
    const rows = new SubscriptionRows(cache);
    const { events, callbacks } = recorder();
    rows.apply([{ table: 'task', op: 'insert', row: task(1, 'queued') }], callbacks);
    rows.apply(
      [{ table: 'task', op: 'update', oldRow: task(1n, 'queued'), row: task(1n, 'claimed', 'y'.repeat(10_000)) }],
      callbacks,
    );
    expect(cache.rows('task').map((row) => row.state)).toEqual(['claimed']);
    rows.apply([{ table: 'task', op: 'delete', row: task(1, 'claimed', 'other text') }], callbacks);
    expect(cache.rows('task')).toEqual([]);
    expect(events).toEqual(['insert 1 queued', 'update 1 queued->claimed', 'delete 1 claimed']);
  });

  it('returns the same frozen array until the table changes', () => {
    const cache = new RowCache();
    const rows = new SubscriptionRows(cache);
    rows.apply([{ table: 'task', op: 'insert', row: task(1, 'queued') }], {});
    const first = cache.rows('task');
    expect(cache.rows('task')).toBe(first);
    expect(cache.view.task).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    rows.apply([{ table: 'task', op: 'insert', row: task(2, 'queued') }], {});
    expect(cache.rows('task')).not.toBe(first);
    expect(cache.rows('task')).toHaveLength(2);
  });

  it('keeps the newest version of a row two subscriptions share, until both let go', () => {
    const cache = new RowCache();
    const one = new SubscriptionRows(cache);
    const two = new SubscriptionRows(cache);
    one.apply([{ table: 'task', op: 'insert', row: task(1, 'queued') }], {});
    two.apply([{ table: 'task', op: 'insert', row: task(1, 'queued') }], {});
    const update = { table: 'task', op: 'update' as const, oldRow: task(1, 'queued'), row: task(1, 'claimed') };
    one.apply([update], {});
    expect(cache.rows('task').map((row) => row.state)).toEqual(['claimed']);
    two.apply([update], {});
    one.release();
    expect(cache.rows('task').map((row) => row.state)).toEqual(['claimed']);
    two.release();
    expect(cache.rows('task')).toEqual([]);
  });

  it('reconciles a new snapshot by key: gone rows deleted, new rows inserted, changed rows updated', () => {
    const cache = new RowCache();
    const rows = new SubscriptionRows(cache);
    const { events, callbacks } = recorder();
    rows.reconcile([{ table: 'task', rows: [task(1, 'queued'), task(2, 'queued'), task(3, 'queued')] }], callbacks);
    const unchanged = cache.rows('task')[2];
    events.length = 0;
    rows.reconcile([{ table: 'task', rows: [task(2, 'claimed'), task(3n, 'queued'), task(4, 'queued')] }], callbacks);
    expect(events).toEqual(['delete 1 queued', 'update 2 queued->claimed', 'insert 4 queued']);
    expect(cache.rows('task').map((row) => `${row.id} ${row.state}`)).toEqual(['2 claimed', '3 queued', '4 queued']);
    expect(cache.rows('task')).toContain(unchanged);
  });
});
