import { describe, expect, it } from 'vitest';
import { canonicalTable, keyOf, RowStore } from '../public/js/store.js';

const flushed = (store: RowStore) =>
  new Promise<ReadonlySet<string>>((resolve) => {
    store.subscribe(resolve);
  });

describe('RowStore (the page copy of the rows it shows)', () => {
  it('applies inserts, updates and deletes by primary key and tells listeners which tables changed', async () => {
    const store = new RowStore();
    const changed = flushed(store);
    store.replace('task', [
      { id: 2, title: 'b', state: 'queued' },
      { id: 1, title: 'a', state: 'queued' },
    ]);
    store.apply('task', 'update', { id: 1, title: 'a', state: 'claimed' });
    store.apply('task', 'insert', { id: 10, title: 'c', state: 'blocked' });
    store.apply('task', 'delete', { id: 2 });
    store.apply('agent_status', 'update', { agent: 'DevClaw', phase: 'acting' });
    expect(store.rows('task')).toEqual([
      { id: 1, title: 'a', state: 'claimed' },
      { id: 10, title: 'c', state: 'blocked' },
    ]);
    expect(store.get('agent_status', 'DevClaw')).toEqual({ agent: 'DevClaw', phase: 'acting' });
    expect([...(await changed)].sort()).toEqual(['agent_status', 'task']);
  });

  it('keeps the rows of a view under its table, and a row without its key is refused', () => {
    const store = new RowStore();
    expect(store.apply('visible_message', 'insert', { id: 3, text: 'hi' })).toBe(true);
    expect(store.rows('message')).toEqual([{ id: 3, text: 'hi' }]);
    expect(canonicalTable('visible_memory')).toBe('memory_entry');
    expect(store.apply('task', 'insert', { title: 'no id' })).toBe(false);
    expect(keyOf('agent', { name: 'LeadClaw' })).toBe('LeadClaw');
  });

  it('orders numeric ids numerically and keeps only the newest rows of history tables', () => {
    const store = new RowStore();
    for (let id = 1; id <= 520; id++) store.apply('message', 'insert', { id: 521 - id, text: String(id) });
    const ids = store.rows('message').map((row) => row.id);
    expect(ids).toHaveLength(500);
    expect(ids[0]).toBe(21);
    expect(ids.at(-1)).toBe(520);
  });
});
