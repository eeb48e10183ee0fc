import { afterEach, describe, expect, it, vi } from 'vitest';
import { EventStream } from '../public/js/event-stream.js';

/** A `/events` answer that sends `chunks` and ends (the connection drops). */
function streamOf(chunks: string[], status = 200): Response {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(new TextEncoder().encode(chunk));
      controller.close();
    },
  });
  return new Response(status === 200 ? body : null, { status, headers: { 'content-type': 'text/event-stream' } });
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('EventStream (the dashboard connection to /events)', () => {
  it('resumes with Last-Event-ID after a dropped connection, reloads on reset, and stops at a 401', async () => {
    const answers = [
      streamOf(['id: 1\nevent: row\ndata: {"n":1}\n\n', 'id: 2\nevent: phase\ndata: {"n":2}\n\n']),
      streamOf(['id: 9\nevent: reset\ndata: {}\n\nid: 10\nevent: row\ndata: {"n":10}\n\n']),
      streamOf([], 401),
    ];
    const requests: (string | null)[] = [];
    vi.stubGlobal('fetch', async (_path: string, init: RequestInit) => {
      requests.push(new Headers(init.headers).get('last-event-id'));
      const answer = answers.shift();
      if (answer === undefined) throw new Error('no more answers');
      return answer;
    });
    const events: string[] = [];
    const states: string[] = [];
    let resyncs = 0;
    const stream = new EventStream('/events', {
      onEvent: (event) => events.push(`${event.id}:${event.event}:${event.data}`),
      onResync: () => {
        resyncs += 1;
      },
      onState: (state) => states.push(state),
    });
    await stream.run();
    // The first connection had nothing to resume from and loaded everything; the second resumed
    // from id 2, was told to reload (reset), and went on; the third found the session gone.
    expect(requests).toEqual([null, '2', '10']);
    expect(events).toEqual(['1:row:{"n":1}', '2:phase:{"n":2}', '10:row:{"n":10}']);
    expect(resyncs).toBe(2);
    expect(states.at(-1)).toBe('unauthorized');
    expect(states).toContain('live');
    expect(states).toContain('reconnecting');
  });

  it('keeps trying while the server is unreachable, and stop() ends it', async () => {
    let attempts = 0;
    vi.stubGlobal('fetch', async () => {
      attempts += 1;
      throw new TypeError('fetch failed');
    });
    const details: string[] = [];
    const stream = new EventStream('/events', {
      onEvent: () => {},
      onResync: () => {},
      onState: (state, detail) => {
        details.push(`${state}: ${detail}`);
        if (attempts === 2 && state === 'reconnecting' && detail.startsWith('Live updates lost')) stream.stop();
      },
    });
    await stream.run();
    expect(attempts).toBe(2);
    expect(details.some((line) => /cannot be reached .*fetch failed.* Reconnecting in/.test(line))).toBe(true);
    expect(details.at(-1)).toMatch(/^stopped/);
  });
});
