import { afterEach, describe, expect, it, vi } from 'vitest';
import { TimeoutQueue } from './timeout-queue.ts';

afterEach(() => {
  vi.useRealTimers();
});

function recorder() {
  const expired: string[] = [];
  return { expired, item: (name: string) => ({ expire: () => expired.push(name) }) };
}

describe('TimeoutQueue', () => {
  it('expires each entry at its own deadline, lanes independently', () => {
    vi.useFakeTimers();
    const queue = new TimeoutQueue(() => Date.now());
    const { expired, item } = recorder();
    queue.add(100, item('a'));
    vi.advanceTimersByTime(30);
    queue.add(100, item('b'));
    queue.add(20, item('fast'));
    vi.advanceTimersByTime(19);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(expired).toEqual(['fast']);
    vi.advanceTimersByTime(50);
    expect(expired).toEqual(['fast', 'a']);
    vi.advanceTimersByTime(29);
    expect(expired).toEqual(['fast', 'a']);
    vi.advanceTimersByTime(1);
    expect(expired).toEqual(['fast', 'a', 'b']);
  });

  it('never expires a cancelled entry, even behind a live one', () => {
    vi.useFakeTimers();
    const queue = new TimeoutQueue(() => Date.now());
    const { expired, item } = recorder();
    const first = queue.add(50, item('first'));
    queue.add(50, item('second'));
    const third = queue.add(50, item('third'));
    queue.cancel(first);
    queue.cancel(third);
    vi.advanceTimersByTime(100);
    expect(expired).toEqual(['second']);
  });

  it('holds only what is in flight when requests settle in order', () => {
    const queue = new TimeoutQueue();
    const { item } = recorder();
    for (let index = 0; index < 100_000; index++) queue.cancel(queue.add(30_000, item('x')));
    expect(queue.size).toBe(0);
    const live = queue.add(30_000, item('live'));
    expect(queue.size).toBe(1);
    queue.cancel(live);
    queue.clear();
  });
});
