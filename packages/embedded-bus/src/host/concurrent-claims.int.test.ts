import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { EmbeddedDatabase } from './embedded-database.ts';
import { identityForName } from './identity.ts';

const directory = mkdtempSync(join(tmpdir(), 'clawfleet-claims-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

function runWorker(
  path: string,
  agents: string[],
  taskIds: number[],
): Promise<{ wins: { agent: string; taskId: number }[] }> {
  const worker = fileURLToPath(new URL('../testing/claim-race-worker.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', worker, path, agents.join(','), taskIds.join(',')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`claim worker exited with ${code}: ${stderr}`));
      else resolve(JSON.parse(stdout));
    });
  });
}

it('gives each task to exactly one agent when four processes claim the same tasks at once', async () => {
  const path = join(directory, 'bus.sqlite');
  const agentsPerProcess = [
    ['A1', 'A2'],
    ['B1', 'B2'],
    ['C1', 'C2'],
    ['D1', 'D2'],
  ];
  const setup = EmbeddedDatabase.open({ path });
  for (const agent of agentsPerProcess.flat()) {
    setup.callReducer('orchestrator', 'register_agent', {
      name: agent,
      identity: identityForName(agent),
      role: 'worker',
    });
  }
  const taskIds = Array.from({ length: 40 }, (_, index) =>
    Number(
      setup
        .callReducer('orchestrator', 'create_task', {
          title: `t${index}`,
          description: '',
          priority: 1,
          depends_on: [],
        })
        .find((change) => change.table === 'task')!.row.id,
    ),
  );
  setup.close();

  // Each process walks the tasks in a different order so that they collide on the same tasks.
  const orders = [taskIds, [...taskIds].reverse(), [...taskIds.slice(20), ...taskIds.slice(0, 20)], taskIds];
  const results = await Promise.all(agentsPerProcess.map((agents, index) => runWorker(path, agents, orders[index]!)));
  const wins = results.flatMap((result) => result.wins);

  expect(wins.map((win) => win.taskId).sort((a, b) => a - b)).toEqual(taskIds);
  const check = EmbeddedDatabase.open({ path });
  for (const win of wins) {
    expect(check.query('orchestrator', 'task', { id: win.taskId })[0]).toMatchObject({
      state: 'claimed',
      owner: win.agent,
      attempts: 1,
    });
  }
  check.close();
});
