import { describe, expect, it } from 'vitest';
import { SseParser } from '../public/js/sse-parser.js';

describe('SseParser (the dashboard reads /events with it)', () => {
  it('parses events with ids, names and multi-line data', () => {
    const parser = new SseParser();
    const events = parser.push(
      'id: 7\nevent: row\ndata: {"a":1}\ndata: {"b":2}\n\n: keep-alive\n\nevent: phase\ndata: x\n\n',
    );
    expect(events).toEqual([
      { id: '7', event: 'row', data: '{"a":1}\n{"b":2}' },
      { id: '7', event: 'phase', data: 'x' },
    ]);
    expect(parser.lastEventId).toBe('7');
  });

  it('completes an event split anywhere across chunks, CRLF split included', () => {
    const text = 'id: 12\r\nevent: row\r\ndata: {"table":"task"}\r\n\r\nid: 13\r\ndata: plain\r\n\r\n';
    for (let cut = 1; cut < text.length; cut++) {
      const parser = new SseParser();
      const events = [...parser.push(text.slice(0, cut)), ...parser.push(text.slice(cut))];
      expect(events, `cut at ${cut}`).toEqual([
        { id: '12', event: 'row', data: '{"table":"task"}' },
        { id: '13', event: 'message', data: 'plain' },
      ]);
    }
  });

  it('keeps no event without data, reads retry, ignores unknown fields', () => {
    const parser = new SseParser();
    expect(parser.push('event: reset\n\nretry: 2500\nfoo: bar\n\n')).toEqual([]);
    expect(parser.retryMs).toBe(2500);
    expect(parser.push('event: reset\ndata: {}\n\n')).toEqual([{ id: undefined, event: 'reset', data: '{}' }]);
  });
});
