/**
 * `/metrics` scrape time: GET /metrics while five agents are busy (each connected over the socket as
 * itself, running cycles as its loop does: begin, phases, an inference call on the tiny model, a tool
 * call, finish), against the same scrape of the idle orchestrator just started and against rendering an
 * empty prom-client registry (default metrics only) in this process.
 */
import { connectAgent } from '@clawfleet/agent-connection';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { format, percentile, table } from '../support/statistics.ts';
import type { ObserveBenchSection } from './section.ts';

const AGENTS = ['LeadClaw', 'DevClaw', 'UXClaw', 'OpsClaw', 'ScribeClaw'];

async function timeScrapes(
  count: number,
  scrape: () => Promise<string>,
): Promise<{ times: number[]; bytes: number; series: number }> {
  const times: number[] = [];
  let text = '';
  for (let index = 0; index < count; index++) {
    const start = performance.now();
    text = await scrape();
    times.push(performance.now() - start);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const series = text.split('\n').filter((line) => line !== '' && !line.startsWith('#')).length;
  return { times, bytes: Buffer.byteLength(text), series };
}

export const metricsScrapeSection: ObserveBenchSection = {
  name: 'scrape',
  title: 'GET /metrics with five agents busy vs. the idle orchestrator and an empty registry',
  async run({ quick, orchestrator }) {
    const count = quick ? 30 : 200;
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    const empty = await timeScrapes(count, () => registry.metrics());
    const http = async (): Promise<string> => {
      const response = await fetch(`${orchestrator.url}/metrics`, {
        headers: { authorization: `Bearer ${orchestrator.tokens.cli}` },
      });
      return response.text();
    };
    const idle = await timeScrapes(count, http);

    let running = true;
    let cycles = 0;
    const connections = await Promise.all(
      AGENTS.map((name) =>
        connectAgent({
          socketPath: orchestrator.socketPath,
          name,
          token: orchestrator.tokens[name]!,
          reconnect: false,
        }),
      ),
    );
    // Each agent finds the id of the cycle it began in its own cache, as the loop does.
    await Promise.all(
      connections.map(
        (connection, index) => connection.bus.subscribe(`SELECT * FROM cycle WHERE agent = '${AGENTS[index]}'`).ready,
      ),
    );
    const loops = connections.map(async (agent, index) => {
      const call = (reducer: string, args: Record<string, unknown>) =>
        agent.bus.callReducer(reducer as never, args as never);
      const tools = ['files.read', 'files.write', 'bus.send', 'memory.note'];
      for (let round = 0; running; round++) {
        const key = `stimulus:${index * 1_000_000 + round + 1}`;
        await call('begin_cycle', { trigger_kind: 'stimulus', trigger_key: key, trigger_text: 'bench', priority: 3 });
        const cycle = agent.bus.rows('cycle').find((row) => row.trigger_key === key && row.agent === AGENTS[index]);
        const cycleId = cycle === undefined ? undefined : Number(cycle.id);
        await call('report_agent_status', {
          phase: 'triaging',
          cycle_id: cycleId,
          progress: 'triage',
          queue_length: 0,
        });
        await agent.inference.generate(`Triage round ${round}`, { maxTokens: 16 });
        if (cycleId !== undefined) {
          await call('record_triage', {
            cycle_id: cycleId,
            decision: 'act',
            priority: 3,
            reason: 'bench',
            defer_seconds: 0,
          });
          await call('report_agent_status', {
            phase: 'acting',
            cycle_id: cycleId,
            progress: 'step 1',
            queue_length: 0,
          });
          await call('begin_tool_call', {
            cycle_id: cycleId,
            step: 1,
            tool: tools[round % tools.length],
            args: '{}',
            side_effect: false,
          });
          await call('finish_tool_call', {
            idempotency_key: `${cycleId}:1`,
            state: round % 7 === 0 ? 'failed' : 'succeeded',
            result_digest: '0'.repeat(64),
            result: 'ok',
            error_code: round % 7 === 0 ? 'TOOL_FAILED' : '',
            duration_ms: 1,
          });
          await call('finish_cycle', {
            cycle_id: cycleId,
            outcome: round % 5 === 0 ? 'partial' : 'success',
            detail: 'bench',
          });
        }
        await call('report_agent_status', { phase: 'idle', progress: 'done', queue_length: 0 });
        cycles += 1;
      }
    });
    // Let the agents get going before timing.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const busy = await timeScrapes(count, http);
    running = false;
    await Promise.all(loops);
    for (const connection of connections) await connection.dispose();

    const row = (name: string, result: { times: number[]; bytes: number; series: number }) => [
      name,
      result.series,
      result.bytes,
      format(percentile(result.times, 0.5), 2),
      format(percentile(result.times, 0.99), 2),
    ];
    return [
      `${count} scrapes each; the agents completed ${cycles} cycles meanwhile`,
      table(
        ['scrape', 'series', 'bytes', 'p50 ms', 'p99 ms'],
        [
          row('empty registry, in-process (baseline)', empty),
          row('GET /metrics, idle orchestrator', idle),
          row('GET /metrics, five agents busy', busy),
        ],
      ),
      `busy / idle p50: ${format(percentile(busy.times, 0.5) / percentile(idle.times, 0.5), 2)}x; busy / empty registry p50: ${format(percentile(busy.times, 0.5) / percentile(empty.times, 0.5), 2)}x`,
    ];
  },
};
