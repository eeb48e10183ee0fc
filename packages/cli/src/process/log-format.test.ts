import { describe, expect, it } from 'vitest';
import { createLogFormatter, LineSplitter, lineIsFromAgent, parseLogLine } from './log-format.ts';

const line = JSON.stringify({
  level: 40,
  time: Date.UTC(2026, 11, 1, 12, 30, 5),
  pid: 42,
  hostname: 'vm',
  name: 'OpsClaw',
  agent: 'OpsClaw',
  component: 'loop',
  cycle: 3,
  msg: 'malformed triage output',
});

describe('log lines', () => {
  it('makes a pino line readable: level, who, message and the other fields, no pid or hostname', () => {
    const text = createLogFormatter(false)(line);
    expect(text).toMatch(/^\[\d\d:\d\d:\d\d\] WARN: OpsClaw loop: malformed triage output/);
    expect(text).toContain('"cycle":3');
    expect(text).not.toContain('hostname');
    expect(text).not.toContain('\n');
  });

  it('passes a line that is not JSON through unchanged', () => {
    expect(createLogFormatter(false)('clawfleet: cannot start: no model')).toBe('clawfleet: cannot start: no model');
  });

  it("tells an agent's lines by its `agent` binding or its process name", () => {
    expect(lineIsFromAgent(parseLogLine(line)!, 'OpsClaw')).toBe(true);
    expect(lineIsFromAgent({ name: 'orchestrator', agent: 'DevClaw' }, 'OpsClaw')).toBe(false);
    expect(parseLogLine('[1, 2]')).toBeUndefined();
  });

  it('splits chunks into whole lines, keeping a partial line for the next chunk', () => {
    const splitter = new LineSplitter();
    expect(splitter.push('a\nb')).toEqual(['a']);
    expect(splitter.push('c\n\nd')).toEqual(['bc']);
    expect(splitter.flush()).toEqual(['d']);
  });
});
