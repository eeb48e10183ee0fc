/**
 * Resident memory of an agent process at rest and after many cycles (target: < 80 MB at rest, no
 * growth). The agent runs as its own child process (loop-rss-agent.ts: the runtime, a bus client,
 * instant inference) against a bus hosted here; each cycle is triage → one tool call → finish →
 * reflection, all recorded. Baseline, same run: a bare Node process with the same loader (tsx) and
 * nothing else, so the table shows what the agent itself holds.
 */
import { fork, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { format, table } from '../support/statistics.ts';
import { hostBus } from './loop-support.ts';
import type { AgentBenchSection } from './section.ts';

const here = dirname(fileURLToPath(import.meta.url));
const TARGET_REST_MB = 80;

interface RssReport {
  type: string;
  rss: number;
  heapUsed: number;
  cycles: number;
}

const mb = (bytes: number) => format(bytes / 2 ** 20, 1);

async function bareNodeRss(): Promise<number> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--expose-gc', '-e', 'globalThis.gc(); console.log(process.memoryUsage().rss)'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  await new Promise((resolve, reject) => {
    child.once('exit', resolve);
    child.once('error', reject);
  });
  return Number(output.trim());
}

export const loopRssSection: AgentBenchSection = {
  name: 'rss',
  title: 'agent process RSS at rest and after N cycles, against a bare node + tsx process',
  async run({ quick }) {
    const cycles = quick ? 200 : 1_000;
    const bus = await hostBus(['DevClaw']);
    const child = fork(join(here, 'loop-rss-agent.ts'), [bus.socketPath, 'DevClaw'], {
      execArgv: ['--import', 'tsx', '--expose-gc'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const replies: RssReport[] = [];
    const waiters: ((report: RssReport) => void)[] = [];
    child.on('message', (message: RssReport) => {
      const waiter = waiters.shift();
      if (waiter !== undefined) waiter(message);
      else replies.push(message);
    });
    const next = () =>
      new Promise<RssReport>((resolve) => {
        const queued = replies.shift();
        if (queued !== undefined) resolve(queued);
        else waiters.push(resolve);
      });
    const ask = () => {
      child.send({ type: 'rss' });
      return next();
    };
    try {
      await next(); // ready
      await new Promise((resolve) => setTimeout(resolve, 500));
      const rest = await ask();
      const checkpoints: RssReport[] = [];
      const every = cycles / 4;
      for (let index = 0; index < cycles; index += 1) {
        await bus.admin.callReducer('create_stimulus', {
          source: 'bench',
          kind: 'bench',
          text: `cycle ${index}`,
          priority: 5,
          target_agent: 'DevClaw',
        });
        // One at a time, as a busy day would bring them: wait until this one's cycle is done.
        for (;;) {
          const done = bus.database.query('orchestrator', 'cycle', { trigger_key: `stimulus:${index + 1}` })[0];
          if (done?.phase === 'done') break;
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
        if ((index + 1) % every === 0) checkpoints.push(await ask());
      }
      const bare = await bareNodeRss();
      const last = checkpoints.at(-1)!;
      return [
        table(
          ['process', 'cycles', 'RSS MB', 'heap used MB'],
          [
            ['bare node + tsx (baseline)', '-', mb(bare), '-'],
            ['agent at rest', String(rest.cycles), mb(rest.rss), mb(rest.heapUsed)],
            ...checkpoints.map((point) => ['agent', String(point.cycles), mb(point.rss), mb(point.heapUsed)]),
          ],
        ),
        `agent at rest minus bare process: ${mb(rest.rss - bare)} MB; growth over ${cycles} cycles: ${mb(last.rss - rest.rss)} MB RSS, ${mb(last.heapUsed - rest.heapUsed)} MB heap (${format((last.heapUsed - rest.heapUsed) / cycles / 1024, 2)} KiB heap per cycle)`,
        `target < ${TARGET_REST_MB} MB at rest: ${rest.rss / 2 ** 20 < TARGET_REST_MB ? 'met' : 'missed'}`,
      ];
    } finally {
      child.send({ type: 'stop' });
      await new Promise((resolve) => {
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          resolve(undefined);
        }, 5_000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve(undefined);
        });
      });
      await bus.dispose();
    }
  },
};
