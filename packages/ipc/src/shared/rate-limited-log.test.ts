import type { Logger } from '@clawfleet/protocol';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RateLimitedLog } from './rate-limited-log.ts';

function capturingLogger(): { logger: Logger; lines: { object: Record<string, unknown>; message?: string }[] } {
  const lines: { object: Record<string, unknown>; message?: string }[] = [];
  const record = (object: Record<string, unknown>, message?: string) => lines.push({ object, message });
  const logger: Logger = { debug: record, info: record, warn: record, error: record, child: () => logger };
  return { logger, lines };
}

afterEach(() => vi.useRealTimers());

describe('RateLimitedLog', () => {
  it('lets a garbage-spewing peer write at most `limit` lines a window, then one summary', () => {
    vi.useFakeTimers();
    const { logger, lines } = capturingLogger();
    const log = new RateLimitedLog(logger, { limit: 5, windowMs: 1000 });
    for (let index = 0; index < 10_000; index++) log.warn({ index }, 'bad frame from peer');
    expect(lines).toHaveLength(5);
    expect(log.suppressed).toBe(9_995);
    vi.advanceTimersByTime(1000);
    log.warn({ index: -1 }, 'bad frame from peer');
    expect(lines.map((line) => line.message)).toEqual([
      ...Array(5).fill('bad frame from peer'),
      'suppressed repeated peer warnings',
      'bad frame from peer',
    ]);
    expect(lines[5]!.object).toMatchObject({ suppressed: 9_995 });
  });
});
