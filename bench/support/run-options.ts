import { loadavg } from 'node:os';

/** The 1, 5 and 15 minute load averages, as every benchmark prints them at its start and end. */
export function loadAverage(): string {
  return loadavg()
    .map((value) => value.toFixed(2))
    .join(' ');
}

/**
 * `--quick` and `--only a,b` of a benchmark made of named sections. An unknown section name is a
 * usage error: it is said with the names there are, and the process exits 2.
 */
export function sectionOptions(
  args: readonly string[],
  sections: readonly { name: string }[],
): { quick: boolean; selected: (name: string) => boolean } {
  const quick = args.includes('--quick');
  const onlyIndex = args.indexOf('--only');
  const only = onlyIndex >= 0 ? (args[onlyIndex + 1] ?? '').split(',') : undefined;
  const unknown = only?.filter((name) => !sections.some((section) => section.name === name)) ?? [];
  if (unknown.length > 0) {
    console.error(`Unknown section ${unknown.join(', ')}; sections: ${sections.map((s) => s.name).join(', ')}`);
    process.exit(2);
  }
  return { quick, selected: (name) => only === undefined || only.includes(name) };
}
