import picocolors from 'picocolors';

type Colors = ReturnType<typeof picocolors.createColors>;

/** Where a command writes, and how. Commands never touch `process.stdout` directly. */
export interface OutputStreams {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

/**
 * Colour only where a person reads it: a TTY, without `NO_COLOR` (https://no-color.org) and not
 * `TERM=dumb`; `FORCE_COLOR` forces it; `--no-color` turns it off.
 */
export function colorEnabled(
  stream: { isTTY?: boolean },
  environment: NodeJS.ProcessEnv,
  flag: boolean | undefined,
): boolean {
  if (flag === false) return false;
  if (environment.NO_COLOR !== undefined && environment.NO_COLOR !== '') return false;
  if (environment.FORCE_COLOR !== undefined && environment.FORCE_COLOR !== '0') return true;
  return stream.isTTY === true && environment.TERM !== 'dumb';
}

/** JSON that survives bigints (64-bit ids beyond 2^53 become strings). */
export function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, item: unknown) =>
      typeof item === 'bigint' ? (Number.isSafeInteger(Number(item)) ? Number(item) : item.toString()) : item,
    2,
  );
}

export class Output {
  readonly color: Colors;
  readonly isTTY: boolean;
  readonly #streams: OutputStreams;

  constructor(streams: OutputStreams, useColor: boolean) {
    this.#streams = streams;
    this.color = picocolors.createColors(useColor);
    this.isTTY = streams.stdout.isTTY === true;
  }

  line(text = ''): void {
    this.#streams.stdout.write(`${text}\n`);
  }

  write(text: string): void {
    this.#streams.stdout.write(text);
  }

  /** Progress and notes for a person: stderr, so stdout stays the command's result. */
  note(text: string): void {
    this.#streams.stderr.write(`${text}\n`);
  }

  json(value: unknown): void {
    this.line(toJson(value));
  }

  /** A table with a header; cells are cut at `maxWidth` characters so one long text keeps rows on one line. */
  table(headers: readonly string[], rows: readonly (readonly unknown[])[], options: { maxWidth?: number } = {}): void {
    const maxWidth = options.maxWidth ?? 60;
    const text = rows.map((row) => row.map((cell) => cut(cellText(cell), maxWidth)));
    const widths = headers.map((header, index) =>
      Math.max(header.length, ...text.map((row) => visibleLength(row[index] ?? ''))),
    );
    const render = (cells: readonly string[]): string =>
      cells
        .map((cell, index) =>
          index === cells.length - 1 ? cell : cell + ' '.repeat(widths[index]! - visibleLength(cell)),
        )
        .join('  ')
        .trimEnd();
    this.line(this.color.bold(render(headers)));
    for (const row of text) this.line(render(row));
  }

  /** `key: value` lines with aligned values. */
  fields(entries: readonly (readonly [string, unknown])[]): void {
    const width = Math.max(...entries.map(([key]) => key.length));
    for (const [key, value] of entries) this.line(`${this.color.dim(`${key}:`.padEnd(width + 1))} ${cellText(value)}`);
  }
}

function cellText(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (typeof value === 'string') return value.replace(/\s+/g, ' ');
  if (typeof value === 'bigint' || typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value, (_key, item: unknown) => (typeof item === 'bigint' ? item.toString() : item));
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: matching ANSI escapes is the point
const ANSI = /\u001b\[[0-9;]*m/g;

function visibleLength(text: string): number {
  return text.replace(ANSI, '').length;
}

function cut(text: string, maxWidth: number): string {
  if (visibleLength(text) <= maxWidth || ANSI.test(text)) return text;
  return `${text.slice(0, maxWidth - 1)}…`;
}
