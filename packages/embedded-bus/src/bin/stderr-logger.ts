import type { Logger } from '@clawfleet/protocol';

/**
 * JSON-lines logger to stderr for the standalone host. The host is a small test and debugging
 * deployable; the orchestrator hosts the bus with its own pino logger.
 */
export function stderrLogger(bindings: Record<string, unknown> = {}): Logger {
  const write =
    (level: string) =>
    (object: Record<string, unknown>, message?: string): void => {
      const record: Record<string, unknown> = { level, time: Date.now(), ...bindings, ...object, message };
      if (record.err instanceof Error) record.err = { name: record.err.name, message: record.err.message };
      process.stderr.write(
        `${JSON.stringify(record, (_key, value) => (typeof value === 'bigint' ? String(value) : value))}\n`,
      );
    };
  return {
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
    child: (more) => stderrLogger({ ...bindings, ...more }),
  };
}
