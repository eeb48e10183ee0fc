/** Formatting of database values for people. Rows carry timestamps as microseconds since the epoch. */

export function microsToDate(value: unknown): Date | undefined {
  if (typeof value === 'number') return new Date(value / 1000);
  if (typeof value === 'bigint') return new Date(Number(value / 1000n));
  return undefined;
}

/** `2026-12-01 23:40:12` in local time, or `-`. */
export function formatTime(value: unknown): string {
  const date = microsToDate(value);
  if (!date) return '-';
  const pad = (part: number): string => String(part).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** `3s ago`, `5m ago`, `2h ago`, `4d ago`. */
export function formatAge(value: unknown, now = Date.now()): string {
  const date = microsToDate(value);
  if (!date) return '-';
  const seconds = Math.max(0, Math.round((now - date.getTime()) / 1000));
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h ago`;
  return `${Math.floor(seconds / 86_400)}d ago`;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function formatDuration(milliseconds: number): string {
  if (milliseconds < 1000) return `${Math.round(milliseconds)} ms`;
  if (milliseconds < 60_000) return `${(milliseconds / 1000).toFixed(1)} s`;
  return `${Math.floor(milliseconds / 60_000)}m ${Math.round((milliseconds % 60_000) / 1000)}s`;
}

/** Parses `--since`: an ISO date/time, or a duration back from now (`30s`, `15m`, `2h`, `7d`). Returns micros. */
export function parseSince(text: string, now = Date.now()): number | undefined {
  const relative = /^(\d+)\s*(s|m|h|d)$/.exec(text.trim());
  if (relative) {
    const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[relative[2] as 's' | 'm' | 'h' | 'd'];
    return (now - Number(relative[1]) * unit) * 1000;
  }
  const parsed = Date.parse(text);
  return Number.isNaN(parsed) ? undefined : parsed * 1000;
}
