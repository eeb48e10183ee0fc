import { ADMIN_SQL_MAX_ROWS } from '@clawfleet/protocol';
import type { Command } from 'commander';
import type { CliRuntime } from '../cli-runtime.ts';
import { integerArgument } from './arguments.ts';

export function registerDb(program: Command, runtime: CliRuntime): void {
  const db = program.command('db').description('the database behind the bus');
  db.command('sql')
    .description(
      'run one read-only SELECT on the bus database: the embedded one, or SpacetimeDB with --server (anything that writes is refused)',
    )
    .argument('<query>', 'one SELECT (or WITH ... SELECT) statement')
    .option('--max-rows <n>', 'cut the answer after this many rows', integerArgument(1, ADMIN_SQL_MAX_ROWS), 1000)
    .option('--json', 'print the rows as JSON objects')
    .addHelpText(
      'after',
      `\nExamples:\n  claw db sql "SELECT name, status FROM agent"\n  claw db sql "SELECT agent, COUNT(*) FROM reflection GROUP BY agent" --json`,
    )
    .action(async (query: string, options: { maxRows: number; json?: boolean }, command: Command) => {
      const context = runtime.context(command);
      await context.withConnection(async (connection) => {
        const result = await connection.sql(query, options.maxRows);
        if (options.json) {
          context.output.json(
            result.rows.map((row) => Object.fromEntries(result.columns.map((column, index) => [column, row[index]]))),
          );
        } else {
          context.output.table(result.columns, result.rows, { maxWidth: 80 });
          context.output.note(`${result.rows.length} row${result.rows.length === 1 ? '' : 's'}`);
        }
        if (result.truncated) context.output.note(`cut after ${options.maxRows} rows (--max-rows)`);
      });
    });
}
