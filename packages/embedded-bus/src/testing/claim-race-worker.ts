/**
 * Child process for concurrent-claims.int.test.ts: opens the shared SQLite file as its own host and
 * tries to claim every task for each of its agents, then prints the claims it won as JSON.
 * argv: <database path> <comma-separated agent names> <comma-separated task ids>
 */
import { isClawError } from '@clawfleet/protocol';
import { EmbeddedDatabase } from '../host/embedded-database.ts';

const [path, agentList, taskList] = process.argv.slice(2);
if (path === undefined || agentList === undefined || taskList === undefined) {
  process.stderr.write('usage: claim-race-worker <path> <agents> <task ids>\n');
  process.exit(2);
}
const database = EmbeddedDatabase.open({ path });
const wins: { agent: string; taskId: number }[] = [];
let busyRetries = 0;
for (const taskId of taskList.split(',').map(Number)) {
  for (const agent of agentList.split(',')) {
    for (;;) {
      try {
        database.callReducer(agent, 'claim_task', { task_id: taskId, lease_seconds: 600 });
        wins.push({ agent, taskId });
      } catch (error) {
        if (isClawError(error, 'DATABASE_ERROR') && error.retryable) {
          busyRetries += 1;
          continue;
        }
        if (!isClawError(error, 'REDUCER_REJECTED')) throw error;
      }
      break;
    }
  }
}
database.close();
process.stdout.write(`${JSON.stringify({ wins, busyRetries })}\n`);
