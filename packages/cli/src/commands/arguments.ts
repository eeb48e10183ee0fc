import { InvalidArgumentError } from 'commander';
import { parseSince } from '../output/format.ts';

/** Argument parsers for commander: a bad value becomes a usage error naming the option. */
export function integerArgument(minimum: number, maximum: number) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || parsed < minimum || parsed > maximum) {
      throw new InvalidArgumentError(`expected an integer ${minimum}-${maximum}, got \`${value}\``);
    }
    return parsed;
  };
}

export function idArgument(value: string): number {
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(Number(value)) || Number(value) < 1) {
    throw new InvalidArgumentError(`expected a positive whole number (an id), got \`${value}\``);
  }
  return Number(value);
}

export function sinceArgument(value: string): number {
  const micros = parseSince(value);
  if (micros === undefined) {
    throw new InvalidArgumentError(
      `expected a date/time (2026-12-01T10:00) or a duration back from now (30m, 2h, 7d), got \`${value}\``,
    );
  }
  return micros;
}

export function durationArgument(value: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError(`expected a duration such as 90s, 5m or 1h, got \`${value}\``);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  const milliseconds = Number(match[1]) * unit;
  if (milliseconds <= 0) throw new InvalidArgumentError(`expected a duration above zero, got \`${value}\``);
  return milliseconds;
}
