import pinoPretty from 'pino-pretty';

/** One parsed pino line, or undefined when the line is not JSON (a child's plain stderr). */
export function parseLogLine(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a log line belongs to an agent: bound as `agent`, or the process named after it. */
export function lineIsFromAgent(entry: Record<string, unknown>, agent: string): boolean {
  return entry.agent === agent || entry.name === agent;
}

/** pino JSON lines made readable: time, level, who, message, then the other fields on one line. */
export function createLogFormatter(colorize: boolean): (line: string) => string {
  const pretty = pinoPretty.prettyFactory({
    colorize,
    singleLine: true,
    translateTime: 'SYS:HH:MM:ss',
    ignore: 'pid,hostname,name,component,agent',
    messageFormat: '{if agent}{agent} {end}{if component}{component}: {end}{msg}',
  });
  return (line) => {
    const entry = parseLogLine(line);
    return entry ? pretty(entry).trimEnd() : line;
  };
}

/** Splits a byte stream into lines; `flush` hands over a last line without a newline. */
export class LineSplitter {
  #rest = '';

  push(chunk: string): string[] {
    const lines = (this.#rest + chunk).split('\n');
    this.#rest = lines.pop() ?? '';
    return lines.filter((line) => line.length > 0);
  }

  flush(): string[] {
    const rest = this.#rest;
    this.#rest = '';
    return rest.length > 0 ? [rest] : [];
  }
}
